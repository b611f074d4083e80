namespace Catalogs.Shards;

/// <summary>How a shard snapshots: every <see cref="SnapshotEveryRecords"/> log records, and its index graph after a
/// snapshot at most every <see cref="IndexSnapshotMinInterval"/> (and when it closes).</summary>
public sealed record LocalShardOptions(int SnapshotEveryRecords, TimeSpan IndexSnapshotMinInterval);
