namespace Catalogs.Grains.Catalogs;

/// <summary>What a catalog grain persists: small, so whole-state writes are fine here.</summary>
[GenerateSerializer, Alias("Catalogs.CatalogState")]
public sealed class CatalogState
{
    [Id(0)] public CatalogSpec? Spec { get; set; }
    [Id(1)] public long Version { get; set; }
    /// <summary>Part of the shard keys: a catalog deleted and created again never meets its old shards.</summary>
    [Id(2)] public string Incarnation { get; set; } = "";
    [Id(3)] public DateTimeOffset CreatedAt { get; set; }
    [Id(4)] public DateTimeOffset UpdatedAt { get; set; }
}
