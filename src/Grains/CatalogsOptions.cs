using System.ComponentModel.DataAnnotations;
using Catalogs.Shards;
using Catalogs.Shards.Sync;

namespace Catalogs.Grains;

/// <summary>Settings of the silo side (section <c>Catalogs</c>), validated at start-up.</summary>
public sealed class CatalogsOptions
{
    public const string Section = "Catalogs";

    /// <summary>Root of shard logs, snapshots and grain state (env <c>Catalogs__DataPath</c>).</summary>
    [Required] public string DataPath { get; set; } = "./data";

    /// <summary>Images with more pixels are refused from their header, before decoding (decompression bombs).</summary>
    [Range(1, 1_000_000_000)] public long MaxImagePixels { get; set; } = 40_000_000;

    /// <summary>A shard writes a snapshot once this many log records have accumulated since the last one.</summary>
    [Range(1, int.MaxValue)] public int SnapshotEveryRecords { get; set; } = 20_000;

    /// <summary>A shard saves its HNSW graph (so a restart loads it instead of rebuilding) after a product snapshot
    /// when at least this long has passed since the last save, and when it deactivates.</summary>
    public TimeSpan IndexSnapshotMinInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Largest encoder batch, and how long the first request of a batch waits for company.</summary>
    [Range(1, 256)] public int MaxEncoderBatch { get; set; } = 32;
    [Range(0, 1000)] public int EncoderBatchWaitMilliseconds { get; set; } = 2;

    /// <summary>Longest wait for Matching Engine's answer to a routed query; beyond it the local index
    /// answers.</summary>
    public TimeSpan MatchingEngineQueryTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Copies of each shard that answer searches, the primary included, for catalogs whose configuration
    /// does not say (<c>replicas</c>); a cluster sets 2 so a dying silo leaves every shard searchable.</summary>
    [Range(1, 8)] public int DefaultReplicas { get; set; } = 1;

    /// <summary>How often a read replica reads what its primary logged since (its lag is about this).</summary>
    public TimeSpan ReplicaPollInterval { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>A replica that has not caught up for this long (its store is unreachable) stops answering, so
    /// searches go to a fresher copy.</summary>
    public TimeSpan ReplicaMaxStaleness { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>A shard copy slower than this to answer a search gets the next copy asked as well (the first answer
    /// wins): a silo that died but is not yet declared dead costs this, not a timeout.</summary>
    public TimeSpan HedgeReadsAfter { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>When every copy of a shard refused a read (a failover under way), they are asked again for this long
    /// before the shard is left out of the answer (named as missing) or the read fails with 503.</summary>
    public TimeSpan RetryReadsFor { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>A shard copy whose activation the runtime deactivated because the silo holding its directory entry
    /// died stays open this long for the copy's next activation on this silo (or a primary taking over here), which
    /// goes on with it instead of loading the shard again.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan KeepDeactivatedShardsFor { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How often each shard copy checks that it runs on the silo its placement prefers (zero: never,
    /// copies stay where they were activated).</summary>
    public TimeSpan PlacementCheckInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A pause after each batch a re-embedding copies (32 products), so that the background work leaves
    /// room for live traffic on a busy silo; 0 copies as fast as the encoder goes.</summary>
    public TimeSpan ReembeddingBatchPause { get; set; } = TimeSpan.Zero;

    /// <summary>Mirroring into Matching Engine.</summary>
    public SyncOptions Sync { get; set; } = new();

    /// <summary>How the shard <paramref name="shardKey"/> snapshots and where its scratch files go, for each of its
    /// copies.</summary>
    public LocalShardOptions ShardOptions(string shardKey) => new(SnapshotEveryRecords,
        IndexSnapshotMinInterval, Path.Combine(Path.GetFullPath(DataPath), "scratch"), shardKey);

    /// <summary>Folders searched for models before downloading (default: $CATALOGS_MODELS, ./models,
    /// ../shared/models).</summary>
    public string[]? ModelPaths { get; set; }
}
