using Catalogs.Grains;
using Catalogs.VectorIndex;

namespace Catalogs.Shards;

/// <summary>Maps the Vertex-shaped wire records onto the vector index's filter model.</summary>
public static class FilterMapping
{
    public static readonly string[] Operators = ["LESS", "LESS_EQUAL", "EQUAL", "GREATER_EQUAL", "GREATER", "NOT_EQUAL"];

    public static PointAttributes ToAttributes(Datapoint point) => new(
        point.Restricts.Select(r => new TokenRestrict(r.Namespace, r.AllowList, r.DenyList)).ToArray(),
        point.NumericRestricts.Select(n => new NumericValue(n.Namespace, n.Value)).ToArray(),
        point.CrowdingTag);

    public static SearchFilter ToFilter(SearchQuery query) => new(
        query.Restricts.Select(r => new TokenRestrict(r.Namespace, r.AllowList, r.DenyList)).ToArray(),
        query.NumericRestricts.Select(n => new NumericCondition(n.Namespace, ParseOp(n.Op), n.Value)).ToArray());

    /// <summary>Restricts as Vertex AI sends them (an empty deny list left out).</summary>
    public static VertexAI.Restriction[] ToVertex(Restrict[] restricts) =>
        restricts.Select(r => new VertexAI.Restriction(r.Namespace, r.AllowList, r.DenyList.Length > 0 ? r.DenyList : null)).ToArray();

    /// <summary>Numeric restricts as Vertex AI takes them: a datapoint's values, or a query's conditions (op, EQUAL
    /// when none is given).</summary>
    public static VertexAI.NumericRestriction[] ToVertex(NumericRestrict[] numeric, bool query) =>
        numeric.Select(n => new VertexAI.NumericRestriction(n.Namespace, n.ValueInt, n.ValueFloat, n.ValueDouble, query ? n.Op ?? "EQUAL" : null)).ToArray();

    public static NumericOp ParseOp(string? op) => op switch
    {
        "LESS" => NumericOp.Less,
        "LESS_EQUAL" => NumericOp.LessEqual,
        "EQUAL" => NumericOp.Equal,
        "GREATER_EQUAL" => NumericOp.GreaterEqual,
        "GREATER" => NumericOp.Greater,
        "NOT_EQUAL" => NumericOp.NotEqual,
        _ => throw new CatalogRequestException(CatalogError.Invalid, $"numericRestricts op '{op}' is not one of {string.Join(", ", Operators)}."),
    };

    public static DistanceMetric ToDistance(SimilarityMetric metric) => metric switch
    {
        SimilarityMetric.Cosine => DistanceMetric.Cosine,
        SimilarityMetric.Dot => DistanceMetric.DotProduct,
        SimilarityMetric.SquaredL2 => DistanceMetric.SquaredL2,
        SimilarityMetric.L1 => DistanceMetric.L1,
        _ => throw new CatalogRequestException(CatalogError.Invalid,
            $"metric {metric} is not one of {SpecEnumConverter<SimilarityMetric>.Accepted}."),
    };
}
