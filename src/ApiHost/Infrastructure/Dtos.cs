using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Catalogs.Grains;

namespace Catalogs.ApiHost.Infrastructure;

// The JSON shapes of the API: Vertex AI Vector Search's datapoint fields (restricts, numericRestricts,
// crowdingTag) plus free-form attributes. Every field is nullable so that validation, not the JSON reader,
// decides what is missing and says so.

/// <summary>A restrict: Vertex's REST names (allowList, denyList) or its JSONL names (allow, deny).</summary>
public sealed record RestrictDto(
    string? Namespace,
    string[]? AllowList,
    string[]? DenyList,
    [property: JsonPropertyName("allow")] string[]? Allow = null,
    [property: JsonPropertyName("deny")] string[]? Deny = null);

/// <summary>A numeric restrict: Vertex's REST names (valueInt…) or its JSONL names (value_int…).</summary>
public sealed record NumericRestrictDto(
    string? Namespace,
    long? ValueInt,
    float? ValueFloat,
    double? ValueDouble,
    string? Op,
    [property: JsonPropertyName("value_int")] long? ValueIntJsonl = null,
    [property: JsonPropertyName("value_float")] float? ValueFloatJsonl = null,
    [property: JsonPropertyName("value_double")] double? ValueDoubleJsonl = null);

public sealed record CrowdingTagDto(string? CrowdingAttribute);

/// <summary>A datapoint as our API names it, as a Vertex AI <c>IndexDatapoint</c> names it (datapointId,
/// embeddingMetadata), or as a line of a Vertex JSONL export does (id, embedding, numeric_restricts, crowding_tag,
/// embedding_metadata): each field may come under one of its names.</summary>
public sealed record DatapointDto(
    string? Id,
    float[]? FeatureVector,
    string? ImageUrl,
    RestrictDto[]? Restricts,
    NumericRestrictDto[]? NumericRestricts,
    CrowdingTagDto? CrowdingTag,
    JsonObject? Attributes,
    string? DatapointId = null,
    JsonObject? EmbeddingMetadata = null,
    float[]? Embedding = null,
    [property: JsonPropertyName("numeric_restricts")] NumericRestrictDto[]? NumericRestrictsJsonl = null,
    [property: JsonPropertyName("crowding_tag")] string? CrowdingTagJsonl = null,
    [property: JsonPropertyName("embedding_metadata")] JsonObject? EmbeddingMetadataJsonl = null,
    JsonElement? SparseEmbedding = null,
    [property: JsonPropertyName("sparse_embedding")] JsonElement? SparseEmbeddingJsonl = null);

public sealed record BatchDto(DatapointDto[]? Datapoints);

public sealed record SearchDto(
    string? ImageUrl,
    string? ProductId,
    float[]? FeatureVector,
    int? NeighborCount,
    RestrictDto[]? Restricts,
    NumericRestrictDto[]? NumericRestricts,
    int? PerCrowdingAttributeNeighborCount,
    bool? ReturnFeatureVector,
    int? Ef = null,
    QueryRouting? Routing = null,
    int? ApproximateNeighborCount = null,
    double? FractionLeafNodesToSearchOverride = null,
    ReadConsistency? Consistency = null,
    ExampleDto[]? Positive = null,
    ExampleDto[]? Negative = null,
    ExampleStrategy? Strategy = null,
    DirectionDto? Direction = null,
    RegionDto? Region = null,
    float? ColorWeight = null,
    string? Text = null,
    RrfDto? Rrf = null,
    bool? Expand = null);

/// <summary>Vertex AI's hybrid-query fusion: <c>alpha</c> weighs the vector ranking against the text ranking
/// (1: vectors alone, 0: text alone).</summary>
public sealed record RrfDto(double? Alpha);

/// <summary>One example of a search with several: exactly one of productId, imageUrl and featureVector, and its
/// weight (default 1 for positives, 0.5 for negatives).</summary>
public sealed record ExampleDto(string? ProductId, string? ImageUrl, float[]? FeatureVector, float? Weight);

public sealed record DirectionDto(string[]? From, string[]? To, float? Weight);

/// <summary>A box of the query image in fractions (0–1) of its upright width and height.</summary>
public sealed record RegionDto(float? X, float? Y, float? Width, float? Height);

public sealed record RestrictView(string Namespace, string[] AllowList, string[] DenyList);

public sealed record NumericRestrictView(string Namespace, long? ValueInt, float? ValueFloat, double? ValueDouble);

public sealed record DatapointView(
    string Id,
    float[]? FeatureVector,
    RestrictView[] Restricts,
    NumericRestrictView[] NumericRestricts,
    CrowdingTagDto? CrowdingTag,
    JsonNode? Attributes,
    DateTimeOffset UpdatedAt,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? ImageSha256 = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Color = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] SparseEmbeddingView? SparseEmbedding = null)
{
    public static DatapointView From(Datapoint p, bool withVector) => new(
        p.Id,
        withVector ? p.FeatureVector : null,
        p.Restricts.Select(r => new RestrictView(r.Namespace, r.AllowList, r.DenyList)).ToArray(),
        p.NumericRestricts.Select(n => new NumericRestrictView(n.Namespace, n.ValueInt, n.ValueFloat,
            n.ValueDouble)).ToArray(),
        p.CrowdingTag is null ? null : new CrowdingTagDto(p.CrowdingTag),
        p.AttributesJson is null ? null : JsonNode.Parse(p.AttributesJson),
        p.UpdatedAt,
        p.ImageSha256,
        p.Color?.Dominant,
        withVector && Shards.ProductText.SparseEmbedding(p) is { } sparse ? SparseEmbeddingView.From(sparse) : null);
}

/// <summary>A product text's sparse embedding in Vertex AI's shape: term ids and their weights.</summary>
public sealed record SparseEmbeddingView(float[] Values, long[] Dimensions)
{
    public static SparseEmbeddingView From(Text.SparseEmbedding e) => new(e.Values, e.Dimensions);
}

public sealed record NeighborView(string Id, float Distance, DatapointView Datapoint);

/// <summary>A search's answer. <c>source</c>: local, matchingEngine or hybrid; <c>degraded</c>: Matching Engine failed
/// and the local index answered alone (<c>warning</c> says why). <c>Partial</c>: some shards could not be reached
/// (named in <c>MissingShards</c>); the neighbours are the best of the others.</summary>
public sealed record SearchResponse(NeighborView[] Neighbors, QueryRouting Source = QueryRouting.Local,
    bool Degraded = false, string? Warning = null, bool Partial = false, int[]? MissingShards = null);

/// <summary>A catalog with its shards' stats. <c>UnderReplicated</c>: shards with fewer copies answering than
/// <c>config.replicas</c> (a replica loading, or its silo gone). <c>Reembedding</c>: the latest move to a new
/// configuration (copying, switched, failed, cancelled); <c>Previous</c>: the version a rollback would serve.</summary>
public sealed record CatalogView(string Name, CatalogSpec Config, long Version, long Products,
    IReadOnlyList<ShardStats> Shards, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, int UnderReplicated = 0,
    Reembedding? Reembedding = null, PreviousVersion? Previous = null)
{
    public static CatalogView From(CatalogInfo i) => new(i.Name, i.Spec, i.Version, i.Products, i.Shards, i.CreatedAt,
        i.UpdatedAt, i.UnderReplicated, i.Reembedding, i.Previous);
}

public sealed record CatalogListView(CatalogView[] Catalogs);
