namespace Catalogs.Grains.Catalogs;

/// <summary>
/// Reads from the copies of a catalog's shards: the primary (copy 0) and its read replicas (1 … n−1). Reads rotate
/// over the copies; a copy that is down, loading or refusing is passed over for the next, and one slower than
/// <c>hedgeAfter</c> gets the next copy asked too (the first answer wins), so a silo that died without being declared
/// dead yet costs a shopper that delay rather than a timeout. When every copy refused, they are asked again, primary
/// first, with a growing pause, until <c>retryFor</c> has passed: during a failover the replica hands its shard to
/// the primary taking over on its silo, so for a moment neither the old primary nor the replica answers.
/// </summary>
sealed class ShardCopies(IGrainFactory grains, TimeSpan hedgeAfter, TimeSpan retryFor)
{
    static readonly TimeSpan FirstPause = TimeSpan.FromMilliseconds(100), LongestPause = TimeSpan.FromSeconds(1);

    int rotation;

    public IShardGrain Primary(string shard) => grains.GetGrain<IShardGrain>(shard);

    public IShardReplicaGrain Replica(string shard, int copy) =>
        grains.GetGrain<IShardReplicaGrain>(Placement.ShardCopyPlacement.ReplicaKey(shard, copy));

    IShardCopyGrain Copy(string shard, int copy) => copy == 0 ? Primary(shard) : Replica(shard, copy);

    /// <summary>Asks the copies of <paramref name="shard"/> until one answers. <see cref="ReadConsistency.Strong"/>:
    /// the primary only. <paramref name="primaryFirst"/>: the primary unless it fails (a lookup by id, which should
    /// see the latest write).</summary>
    public Task<T> ReadAsync<T>(string shard, int copies, ReadConsistency consistency, bool primaryFirst,
        Func<IShardCopyGrain, Task<T>> read, CancellationToken cancellationToken)
    {
        int n = consistency == ReadConsistency.Strong ? 1 : Math.Max(1, copies);
        int start = n == 1 || primaryFirst ? 0 : (int)((uint)Interlocked.Increment(ref rotation) % (uint)n);
        return FirstAnswerAsync(n, start, copy => read(Copy(shard, copy)), hedgeAfter, retryFor, cancellationToken);
    }

    /// <summary>The first answer of copies 0 … <paramref name="n"/>−1, asked from <paramref name="start"/> on with
    /// hedging, in rounds (later ones from copy 0) until <paramref name="retryFor"/> has passed.</summary>
    internal static async Task<T> FirstAnswerAsync<T>(int n, int start, Func<int, Task<T>> ask, TimeSpan hedgeAfter,
        TimeSpan retryFor, CancellationToken cancellationToken)
    {
        var giveUpAt = DateTime.UtcNow + retryFor;
        var pause = FirstPause;
        while (true)
        {
            try
            {
                return await RoundAsync(n, start, ask, hedgeAfter, cancellationToken);
            }
            catch (Exception ex) when (Unavailability.IsTransient(ex) && !cancellationToken.IsCancellationRequested
                && DateTime.UtcNow + pause < giveUpAt)
            {
                await Task.Delay(pause, cancellationToken);
                pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, LongestPause.Ticks));
                start = 0; // the primary is the copy a failover brings back first
            }
        }
    }

    /// <summary>Each copy asked at most once, from <paramref name="start"/> on; the last refusal when none
    /// answered.</summary>
    static async Task<T> RoundAsync<T>(int n, int start, Func<int, Task<T>> ask, TimeSpan hedgeAfter,
        CancellationToken cancellationToken)
    {
        var pending = new List<Task<T>>();
        int asked = 0;
        Exception? failure = null;
        while (true)
        {
            if (pending.Count == 0)
            {
                if (asked == n) throw failure!;
                pending.Add(ask((start + asked++) % n));
            }
            var first = Task.WhenAny(pending);
            if (asked < n && await Task.WhenAny(first, Task.Delay(hedgeAfter, cancellationToken)) != first)
            {
                pending.Add(ask((start + asked++) % n));
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
