using System.Text.Json.Nodes;
using Catalogs.Grains;

namespace Catalogs.ApiHost.Infrastructure;

// The JSON shapes of the API: Vertex AI Vector Search's datapoint fields (restricts, numericRestricts,
// crowdingTag) plus free-form attributes. Every field is nullable so that validation, not the JSON reader,
// decides what is missing and says so.

public sealed record RestrictDto(string? Namespace, string[]? AllowList, string[]? DenyList);

public sealed record NumericRestrictDto(string? Namespace, long? ValueInt, float? ValueFloat, double? ValueDouble, string? Op);

public sealed record CrowdingTagDto(string? CrowdingAttribute);

public sealed record DatapointDto(
    string? Id,
    float[]? FeatureVector,
    string? ImageUrl,
    RestrictDto[]? Restricts,
    NumericRestrictDto[]? NumericRestricts,
    CrowdingTagDto? CrowdingTag,
    JsonObject? Attributes);

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
    string? Routing = null,
    int? ApproximateNeighborCount = null,
    double? FractionLeafNodesToSearchOverride = null);

public sealed record DatapointView(
    string Id,
    float[]? FeatureVector,
    RestrictDto[] Restricts,
    NumericRestrictDto[] NumericRestricts,
    CrowdingTagDto? CrowdingTag,
    JsonNode? Attributes,
    DateTimeOffset UpdatedAt)
{
    public static DatapointView From(Datapoint p, bool withVector) => new(
        p.Id,
        withVector ? p.FeatureVector : null,
        p.Restricts.Select(r => new RestrictDto(r.Namespace, r.AllowList, r.DenyList)).ToArray(),
        p.NumericRestricts.Select(n => new NumericRestrictDto(n.Namespace, n.ValueInt, n.ValueFloat, n.ValueDouble, null)).ToArray(),
        p.CrowdingTag is null ? null : new CrowdingTagDto(p.CrowdingTag),
        p.AttributesJson is null ? null : JsonNode.Parse(p.AttributesJson),
        p.UpdatedAt);
}

public sealed record NeighborView(string Id, float Distance, DatapointView Datapoint);

/// <summary><c>source</c>: local, matchingEngine or hybrid; <c>degraded</c>: Matching Engine failed and the local index
/// answered alone (<c>warning</c> says why).</summary>
public sealed record SearchResponse(NeighborView[] Neighbors, string Source = "local", bool Degraded = false, string? Warning = null);

public sealed record CatalogView(string Name, CatalogSpec Config, long Version, long Products, IReadOnlyList<ShardStats> Shards, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt)
{
    public static CatalogView From(CatalogInfo i) => new(i.Name, i.Spec, i.Version, i.Products, i.Shards, i.CreatedAt, i.UpdatedAt);
}

public sealed record CatalogListView(CatalogView[] Catalogs);
