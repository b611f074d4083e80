using Catalogs.Grains;
using Catalogs.VectorIndex;

namespace Catalogs.Shards;

/// <summary>Maps the Vertex-shaped wire records onto the vector index's filter model.</summary>
public static class FilterMapping
{
    public static PointAttributes ToAttributes(Datapoint point) => new(
        point.FilterRestricts.Select(r => new TokenRestrict(r.Namespace, r.AllowList, r.DenyList)).ToArray(),
        point.NumericRestricts.Select(n => new NumericValue(n.Namespace, n.Value)).ToArray(),
        point.CrowdingTag);

    public static SearchFilter ToFilter(SearchQuery query) => new(
        query.Restricts.Select(r => new TokenRestrict(r.Namespace, r.AllowList, r.DenyList)).ToArray(),
        query.NumericRestricts.Select(n => new NumericCondition(n.Namespace, ToIndexOp(n.Op), n.Value)).ToArray());

    /// <summary>Restricts as Vertex AI sends them (an empty deny list left out).</summary>
    public static VertexAI.Restriction[] ToVertex(Restrict[] restricts) =>
        restricts.Select(r => new VertexAI.Restriction(r.Namespace, r.AllowList, r.DenyList.Length > 0 ? r.DenyList
            : null)).ToArray();

    /// <summary>Numeric restricts as Vertex AI takes them: a datapoint's values, or a query's conditions (op, EQUAL
    /// when none is given).</summary>
    public static VertexAI.NumericRestriction[] ToVertex(NumericRestrict[] numeric, bool query) =>
        numeric.Select(n => new VertexAI.NumericRestriction(n.Namespace, n.ValueInt, n.ValueFloat, n.ValueDouble,
            query ? NumericOperators.Name(n.Op ?? NumericOperator.Equal) : null)).ToArray();

    /// <summary>The index's comparison for a query's operator; none given means EQUAL, as in Vertex AI.</summary>
    public static NumericOp ToIndexOp(NumericOperator? op) => op switch
    {
        NumericOperator.Less => NumericOp.Less,
        NumericOperator.LessEqual => NumericOp.LessEqual,
        null or NumericOperator.Equal => NumericOp.Equal,
        NumericOperator.GreaterEqual => NumericOp.GreaterEqual,
        NumericOperator.Greater => NumericOp.Greater,
        NumericOperator.NotEqual => NumericOp.NotEqual,
        _ => throw new ArgumentOutOfRangeException(nameof(op), op, null),
    };

    public static DistanceMetric ToDistance(SimilarityMetric metric) => metric switch
    {
        SimilarityMetric.Cosine => DistanceMetric.Cosine,
        SimilarityMetric.Dot => DistanceMetric.DotProduct,
        SimilarityMetric.SquaredL2 => DistanceMetric.SquaredL2,
        SimilarityMetric.L1 => DistanceMetric.L1,
        _ => throw new ArgumentOutOfRangeException(nameof(metric), metric, null), // specs are checked when set
    };
}
