using System.Text.Json;
using System.Text.Json.Serialization;

namespace Catalogs.VertexAI;

// The v1 REST resources, as documented (camelCase JSON; int64 fields travel as strings).

/// <summary>An <c>Index</c> (projects.locations.indexes).</summary>
public sealed record IndexResource(
    string? Name,
    string DisplayName,
    IndexMetadata Metadata,
    string IndexUpdateMethod,
    string? Description = null,
    IndexStats? IndexStats = null,
    string? CreateTime = null,
    string? UpdateTime = null,
    string? Etag = null);

/// <summary><c>Index.metadata</c> for tree-AH / brute-force indexes. <c>ContentsDeltaUri</c> and
/// <c>IsCompleteOverwrite</c> drive batch updates through <c>indexes.patch</c>.</summary>
public sealed record IndexMetadata(
    IndexConfig? Config = null,
    string? ContentsDeltaUri = null,
    bool? IsCompleteOverwrite = null);

public sealed record IndexConfig(
    int Dimensions,
    string DistanceMeasureType,
    AlgorithmConfig AlgorithmConfig,
    int? ApproximateNeighborsCount = null,
    string? FeatureNormType = null,
    string? ShardSize = null);

public sealed record AlgorithmConfig(TreeAhConfig? TreeAhConfig = null, BruteForceConfig? BruteForceConfig = null);

public sealed record TreeAhConfig(
    [property: JsonNumberHandling(WireNumbers.Int64)] long? LeafNodeEmbeddingCount = null,
    double? LeafNodesToSearchPercent = null);

public sealed record BruteForceConfig;

public sealed record IndexStats(
    [property: JsonNumberHandling(WireNumbers.Int64)] long? VectorsCount = null,
    int? ShardsCount = null);

/// <summary>An <c>IndexDatapoint</c>.</summary>
public sealed record IndexDatapoint(
    string DatapointId,
    float[]? FeatureVector = null,
    IReadOnlyList<Restriction>? Restricts = null,
    IReadOnlyList<NumericRestriction>? NumericRestricts = null,
    CrowdingTag? CrowdingTag = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    SparseEmbedding? SparseEmbedding = null);

/// <summary>A sparse embedding (hybrid search): the non-zero dimensions (int64, strings on the wire) and their
/// values.</summary>
public sealed record SparseEmbedding(float[] Values,
    [property: JsonNumberHandling(WireNumbers.Int64)] long[] Dimensions)
{
    /// <summary>The dot product of two sparse embeddings.</summary>
    public double Dot(SparseEmbedding other)
    {
        var weights = new Dictionary<long, float>();
        for (int i = 0; i < Dimensions.Length && i < Values.Length; i++) weights[Dimensions[i]] = Values[i];
        double dot = 0;
        for (int i = 0; i < other.Dimensions.Length && i < other.Values.Length; i++)
            if (weights.TryGetValue(other.Dimensions[i], out var w)) dot += w * other.Values[i];
        return dot;
    }
}

/// <summary>A hybrid query's fusion of its dense and sparse rankings: <c>alpha</c> weighs the dense one.</summary>
public sealed record Rrf(float Alpha);

public sealed record Restriction(string Namespace, IReadOnlyList<string>? AllowList = null,
    IReadOnlyList<string>? DenyList = null);

/// <summary>One of <c>ValueInt</c> / <c>ValueFloat</c> / <c>ValueDouble</c>; <c>Op</c> only in queries
/// (LESS, LESS_EQUAL, EQUAL, GREATER_EQUAL, GREATER, NOT_EQUAL).</summary>
public sealed record NumericRestriction(
    string Namespace,
    [property: JsonNumberHandling(WireNumbers.Int64)] long? ValueInt = null,
    float? ValueFloat = null,
    double? ValueDouble = null,
    string? Op = null);

public sealed record CrowdingTag(string? CrowdingAttribute = null);

public sealed record UpsertDatapointsRequest(IReadOnlyList<IndexDatapoint> Datapoints);

public sealed record RemoveDatapointsRequest(IReadOnlyList<string> DatapointIds);

/// <summary>A long-running operation (<c>google.longrunning.Operation</c>).</summary>
public sealed record Operation(string Name, bool Done = false, OperationError? Error = null, JsonElement? Response =
    null, JsonElement? Metadata = null);

public sealed record OperationError(int Code, string? Message = null);

public sealed record IndexEndpoint(
    string? Name,
    string DisplayName,
    bool? PublicEndpointEnabled = null,
    string? PublicEndpointDomainName = null,
    IReadOnlyList<DeployedIndex>? DeployedIndexes = null);

public sealed record DeployedIndex(string Id, string Index, string? DisplayName = null);

public sealed record DeployIndexRequest(DeployedIndex DeployedIndex);

public sealed record FindNeighborsRequest(string DeployedIndexId, IReadOnlyList<NeighborQuery> Queries,
    bool ReturnFullDatapoint = false);

public sealed record NeighborQuery(
    IndexDatapoint Datapoint,
    int NeighborCount,
    int? PerCrowdingAttributeNeighborCount = null,
    int? ApproximateNeighborCount = null,
    double? FractionLeafNodesToSearchOverride = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Rrf? Rrf = null);

public sealed record FindNeighborsResponse(IReadOnlyList<NearestNeighbors>? NearestNeighbors);

public sealed record NearestNeighbors(string? Id, IReadOnlyList<NeighborResult>? Neighbors);

public sealed record NeighborResult(IndexDatapoint Datapoint, double Distance,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? SparseDistance = null);

public sealed record ReadIndexDatapointsRequest(string DeployedIndexId, IReadOnlyList<string> Ids);

public sealed record ReadIndexDatapointsResponse(IReadOnlyList<IndexDatapoint>? Datapoints);

/// <summary>A Cloud Storage object's metadata (JSON API <c>objects</c> resource; sizes as strings).</summary>
public sealed record StorageObject(
    string Name,
    string Bucket,
    [property: JsonNumberHandling(WireNumbers.Int64)] long? Size = null,
    string? ContentType = null,
    [property: JsonNumberHandling(WireNumbers.Int64)] long? Generation = null,
    string? Crc32c = null);

public sealed record StorageObjectList(IReadOnlyList<StorageObject>? Items = null, string? NextPageToken = null,
    IReadOnlyList<string>? Prefixes = null);

/// <summary>The JSON options of every Google REST call: camelCase, nulls omitted.</summary>
public static class GoogleJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };
}

/// <summary>How Google's JSON carries 64-bit integers: as strings (read either way).</summary>
static class WireNumbers
{
    public const JsonNumberHandling Int64 =
        JsonNumberHandling.AllowReadingFromString | JsonNumberHandling.WriteAsString;
}
