using System.Text.Json.Serialization;

namespace Catalogs.Grains;

/// <summary>Where a catalog's move to a new configuration stands: copying its products into the new version's
/// shards (the current version serving meanwhile), switched over, or stopped (failed, cancelled) with the serving
/// version untouched.</summary>
[JsonConverter(typeof(SpecEnumConverter<ReembeddingPhase>))]
public enum ReembeddingPhase { Copying, Switched, Failed, Cancelled }

/// <summary>A catalog's latest re-embedding: the version it builds (the catalog's <c>Version</c> once it switches),
/// whether it runs every stored image through the new encoder (<c>Reencodes</c>) or copies the vectors (a new
/// index or shard count), how many of the <c>Total</c> products it has processed and written, and why it
/// stopped.</summary>
[GenerateSerializer, Immutable, Alias("Catalogs.Reembedding")]
public sealed record Reembedding(
    [property: Id(0)] ReembeddingPhase Phase,
    [property: Id(1)] long TargetVersion,
    [property: Id(2)] bool Reencodes,
    [property: Id(3)] long Total,
    [property: Id(4)] long Processed,
    [property: Id(5)] long Written,
    [property: Id(6)] DateTimeOffset StartedAt,
    [property: Id(7)] DateTimeOffset? FinishedAt = null,
    [property: Id(8)] string? Error = null);

/// <summary>The version a catalog served before its last switch, kept up to date (every write goes to both) so
/// that rolling back is instant, until it is retired or the next re-embedding starts.</summary>
[GenerateSerializer, Immutable, Alias("Catalogs.PreviousVersion")]
public sealed record PreviousVersion(
    [property: Id(0)] long Version,
    [property: Id(1)] CatalogSpec Spec);
