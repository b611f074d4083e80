namespace Catalogs.Grains.Catalogs;

/// <summary>
/// Reads from the copies of a catalog's shards: the primary (copy 0) and its read replicas (1 … n−1). Reads rotate
/// over the copies; a copy that is down, loading or refusing is passed over for the next, and one slower than
/// <c>hedgeAfter</c> gets the next copy asked too (the first answer wins), so a silo that died without being declared
/// dead yet costs a shopper that delay rather than a timeout.
/// </summary>
sealed class ShardCopies(IGrainFactory grains, TimeSpan hedgeAfter)
{
    int rotation;

    public IShardGrain Primary(string shard) => grains.GetGrain<IShardGrain>(shard);

    public IShardReplicaGrain Replica(string shard, int copy) =>
        grains.GetGrain<IShardReplicaGrain>(Placement.ShardCopyPlacement.ReplicaKey(shard, copy));

    IShardCopyGrain Copy(string shard, int copy) => copy == 0 ? Primary(shard) : Replica(shard, copy);

    /// <summary>Asks the copies of <paramref name="shard"/> until one answers. <see cref="ReadConsistency.Strong"/>:
    /// the primary only. <paramref name="primaryFirst"/>: the primary unless it fails (a lookup by id, which should
    /// see the latest write).</summary>
    public async Task<T> ReadAsync<T>(string shard, int copies, ReadConsistency consistency, bool primaryFirst,
        Func<IShardCopyGrain, Task<T>> read, CancellationToken cancellationToken)
    {
        int n = consistency == ReadConsistency.Strong ? 1 : Math.Max(1, copies);
        int start = n == 1 || primaryFirst ? 0 : (int)((uint)Interlocked.Increment(ref rotation) % (uint)n);
        var pending = new List<Task<T>>();
        int asked = 0;
        Exception? failure = null;
        while (true)
        {
            if (pending.Count == 0)
            {
                if (asked == n) throw failure!;
                pending.Add(read(Copy(shard, (start + asked++) % n)));
            }
            var first = Task.WhenAny(pending);
            if (asked < n && await Task.WhenAny(first, Task.Delay(hedgeAfter, cancellationToken)) != first)
            {
                pending.Add(read(Copy(shard, (start + asked++) % n)));
                continue;
            }
            var done = await first;
            pending.Remove(done);
            try
            {
                return await done;
            }
            catch (Exception ex) when (Unavailability.IsTransient(ex) && !cancellationToken.IsCancellationRequested)
            {
                failure = ex;
            }
        }
    }
}
