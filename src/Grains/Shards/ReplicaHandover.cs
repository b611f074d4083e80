using System.Collections.Concurrent;
using Catalogs.Shards;
using Catalogs.Shards.Storage;
using Microsoft.Extensions.Logging;

namespace Catalogs.Grains.Shards;

/// <summary>
/// The loaded read replicas of this silo, so that a primary activating here (its silo died, or it moved) can take
/// one over in place instead of loading the shard from the store. The replica grain gives its shard up in its own
/// turn (<see cref="IShardReplicaGrain.HandOver"/>), after any catch-up in progress; from then on only the primary's
/// grain touches it.
/// </summary>
public sealed class ReplicaHandover(IGrainFactory grains, ILogger<ReplicaHandover> logger)
{
    readonly ConcurrentDictionary<string, string> loaded = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<string, LocalShard> released = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<string, byte> primaries = new(StringComparer.Ordinal);

    /// <summary>The shard's primary is open on this silo (or no longer).</summary>
    public void PrimaryOpened(string shard) => primaries[shard] = 0;

    public void PrimaryClosed(string shard) => primaries.TryRemove(shard, out _);

    public bool IsPrimaryHere(string shard) => primaries.ContainsKey(shard);

    public void Loaded(string shard, string replicaKey) => loaded[shard] = replicaKey;

    public void Unloaded(string shard, string replicaKey) =>
        loaded.TryRemove(KeyValuePair.Create(shard, replicaKey));

    /// <summary>Called by the replica grain in its turn: the shard now belongs to whoever takes it.</summary>
    public void Release(string shard, LocalShard replica) => released[shard] = replica;

    /// <summary>The shard, promoted to primary, when a replica of it is loaded on this silo and caught up; null
    /// otherwise (the caller opens it from the store).</summary>
    public async Task<LocalShard?> TakeAsync(string shard, IShardStore store, CancellationToken cancellationToken)
    {
        if (!loaded.TryGetValue(shard, out var replicaKey)) return null;
        try
        {
            if (!await grains.GetGrain<IShardReplicaGrain>(replicaKey).HandOver(cancellationToken)) return null;
        }
        catch (Exception ex) when (Unavailability.IsTransient(ex))
        {
            return null;
        }
        if (!released.TryRemove(shard, out var replica)) return null;
        try
        {
            if (await replica.PromoteAsync(store, cancellationToken))
            {
                logger.LogInformation("Shard {Shard}: its replica here became the primary ({Count} products)", shard,
                    replica.Count);
                return replica;
            }
        }
        catch (Exception ex) when (ShardGrain.IsStoreFailure(ex))
        {
            logger.LogWarning("Shard {Shard}: promoting the replica failed ({Error}); loading from the store", shard,
                ex.Message);
        }
        await replica.DisposeAsync();
        return null;
    }
}
