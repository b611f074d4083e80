namespace Catalogs.Grains;

/// <summary>One hash partition of a catalog, keyed <c>tenant/catalog/incarnation/shard</c>: its hot index, its
/// products, its write-ahead log and snapshots.</summary>
[Alias("Catalogs.IShardGrain")]
public interface IShardGrain : IShardCopyGrain
{
    [ResponseTimeout(CallTimeouts.Long)]
    [Alias("Initialize")] Task Initialize(ShardSettings settings, CancellationToken cancellationToken = default);
    /// <summary>Upserts products (with vectors); a write's image is kept as the product's original image.</summary>
    [Alias("Upsert")] Task Upsert(ProductWrite[] writes, CancellationToken cancellationToken = default);
    /// <summary>A product's original image, or a thumbnail whose longer side is <paramref name="size"/>; null when the
    /// product or its image does not exist.</summary>
    [Alias("GetImage")]
    Task<ProductImage?> GetImage(string id, int? size,
        CancellationToken cancellationToken = default);
    [Alias("Remove")] Task<bool> Remove(string id, CancellationToken cancellationToken = default);
    [Alias("GetMany")] Task<Datapoint?[]> GetMany(string[] ids, CancellationToken cancellationToken = default);
    /// <summary>The ids of the shard's products as of now.</summary>
    [Alias("GetIds")] Task<string[]> GetIds(CancellationToken cancellationToken = default);
    [Alias("GetStats")] Task<ShardStats> GetStats(CancellationToken cancellationToken = default);
    [Alias("GetFacets")] Task<CatalogFacets> GetFacets(int maxTokens, CancellationToken cancellationToken = default);
    /// <summary>Deletes the shard's files and deactivates it.</summary>
    [ResponseTimeout(CallTimeouts.Long)]
    [Alias("Drop")] Task Drop(CancellationToken cancellationToken = default);
    /// <summary>Starts mirroring into a Matching Engine index (a new index: everything is sent again), or stops
    /// (null).</summary>
    [ResponseTimeout(CallTimeouts.Long)]
    [Alias("BindSync")] Task BindSync(string? index, CancellationToken cancellationToken = default);
    [Alias("GetDeadLetters")] Task<DeadLetter[]> GetDeadLetters(CancellationToken cancellationToken = default);
    /// <summary>Uploads the shard's products (or, with <paramref name="delta"/>, its changes since the last committed
    /// export) as Vertex JSONL to <paramref name="objectName"/>, and removed ids to <paramref
    /// name="deleteObjectName"/>.</summary>
    [Alias("ExportTo"), ResponseTimeout(CallTimeouts.Long)]
    Task<ShardExport> ExportTo(string bucket, string objectName, string deleteObjectName,
        bool delta, CancellationToken cancellationToken = default);
    /// <summary>Records that Matching Engine holds the shard's state as of <paramref name="sequence"/> (the next delta
    /// starts there).</summary>
    [Alias("CommitExport")] Task CommitExport(long sequence, CancellationToken cancellationToken = default);
}

/// <summary>What every copy of a shard answers: the primary and its read replicas.</summary>
[Alias("Catalogs.IShardCopyGrain")]
public interface IShardCopyGrain : IGrainWithStringKey
{
    [Alias("Get")] Task<Datapoint?> Get(string id, CancellationToken cancellationToken = default);
    [Alias("Search")] Task<SearchHit[]> Search(SearchQuery query, CancellationToken cancellationToken = default);
}

/// <summary>A read replica of a shard, keyed <c>{shard key}/r{copy}</c> (copy ≥ 1): it loads the shard's latest
/// snapshot from the shared store and follows its log, on another silo than the primary and the other replicas.
/// Until it has loaded it refuses (503), so callers ask another copy.</summary>
[Alias("Catalogs.IShardReplicaGrain")]
public interface IShardReplicaGrain : IShardCopyGrain
{
    /// <summary>Activates the replica so that it starts loading.</summary>
    [Alias("Warm")] Task Warm(CancellationToken cancellationToken = default);
    [Alias("GetReplicaStats")] Task<ReplicaStats> GetStats(CancellationToken cancellationToken = default);
    /// <summary>Gives the loaded copy up to the shard's primary activating on silo <paramref name="to"/> (which takes
    /// it over in place); false when there is none, or when this activation runs on another silo. The replica loads
    /// again afterwards.</summary>
    [Alias("HandOverOn")] Task<bool> HandOver(SiloAddress to, CancellationToken cancellationToken = default);
    /// <summary>Drops the replica's copy (its catalog dropped it or needs fewer copies).</summary>
    [Alias("Retire")] Task Retire(CancellationToken cancellationToken = default);
}
