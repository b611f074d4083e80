namespace Catalogs.Shards;

/// <summary>How a shard snapshots: every <see cref="SnapshotEveryRecords"/> log records, and its index graph after a
/// snapshot at most every <see cref="IndexSnapshotMinInterval"/> (and when it closes).
/// <see cref="ScratchDirectory"/>: a local directory for memory-mapped re-rank vectors (files unlinked at once, so
/// nothing outlives the process); null keeps them on the heap whatever the spec says. <see cref="Name"/>: the shard
/// in metrics (its key).</summary>
public sealed record LocalShardOptions(int SnapshotEveryRecords, TimeSpan IndexSnapshotMinInterval,
    string? ScratchDirectory = null, string Name = "shard");
