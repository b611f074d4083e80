using System.Collections.Concurrent;
using Catalogs.Grains.Placement;
using Catalogs.Shards;
using Catalogs.Shards.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Catalogs.Grains.Shards;

/// <summary>
/// Open shard copies of this silo passed from one grain activation to the next:
/// <list type="bullet">
/// <item>a loaded read replica, so that a primary activating here (its silo died, or it moved) takes it over in
/// place instead of loading the shard from the store. The replica grain gives its shard up in its own turn
/// (<see cref="IShardReplicaGrain.HandOver"/>), after any catch-up in progress; from then on only the primary's grain
/// touches it;</item>
/// <item>a copy whose activation the runtime deactivated because the silo holding its grain-directory entry died
/// (the copy itself was fine): kept for <see cref="CatalogsOptions.KeepDeactivatedShardsFor"/>, it is what the
/// copy's next activation here, or a primary taking over here, goes on with, instead of loading the shard
/// again.</item>
/// </list>
/// </summary>
public sealed class ShardHandover(IGrainFactory grains, ILocalSiloDetails silo, IOptions<CatalogsOptions> options,
    ILogger<ShardHandover> logger)
{
    // How long a primary opening waits for the replica here that the runtime is deactivating to be kept.
    static readonly TimeSpan DeactivationWait = TimeSpan.FromSeconds(10);

    readonly ConcurrentDictionary<string, string> loaded = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<string, LocalShard> released = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<string, byte> primaries = new(StringComparer.Ordinal);
    // Copies kept from deactivated activations, by copy key (the shard key for a primary, {shard}/r{n} for a replica).
    readonly ConcurrentDictionary<string, LocalShard> kept = new(StringComparer.Ordinal);

    /// <summary>Keeps the open copy of an activation the runtime deactivated; closed if nobody takes it in
    /// time.</summary>
    public void Keep(string copyKey, LocalShard shard)
    {
        if (kept.TryGetValue(copyKey, out var older) && !ReferenceEquals(older, shard)) _ = CloseAsync(older);
        kept[copyKey] = shard;
        logger.LogInformation("Shard copy {Key} kept open for its next activation ({Count} products)", copyKey,
            shard.Count);
        _ = Task.Delay(options.Value.KeepDeactivatedShardsFor).ContinueWith(async _ =>
        {
            if (!kept.TryRemove(KeyValuePair.Create(copyKey, shard))) return;
            logger.LogInformation("Shard copy {Key}: no activation took it; closing it", copyKey);
            await CloseAsync(shard);
        }, TaskScheduler.Default);
    }

    /// <summary>Whether a copy deactivated for <paramref name="reason"/> is kept: the runtime let it go only because
    /// its directory entry was lost with another silo.</summary>
    public static bool Keeps(DeactivationReason reason) => reason.ReasonCode == DeactivationReasonCode.DirectoryFailure;

    /// <summary>The copy kept for <paramref name="copyKey"/>, now the caller's; null when there is none.</summary>
    public LocalShard? TakeKept(string copyKey) => kept.TryRemove(copyKey, out var shard) ? shard : null;

    async Task CloseAsync(LocalShard shard)
    {
        try
        {
            await shard.DisposeAsync();
        }
        catch (Exception ex)
        {
            logger.LogWarning("Closing a kept shard copy failed: {Error}", ex.Message);
        }
    }

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
        var clock = System.Diagnostics.Stopwatch.StartNew();
        if (await TakeReplicaAsync(shard, cancellationToken) is not { } replica) return null;
        var handedOver = clock.Elapsed;
        try
        {
            if (await replica.PromoteAsync(store, cancellationToken))
            {
                logger.LogInformation("Shard {Shard}: its replica here became the primary ({Count} products; " +
                    "hand-over {HandOver:F0} ms, promotion {Promotion:F0} ms)", shard, replica.Count,
                    handedOver.TotalMilliseconds, (clock.Elapsed - handedOver).TotalMilliseconds);
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

    /// <summary>The replica loaded on this silo, given up by its activation in its turn, or kept from one the runtime
    /// deactivated (waited for while that deactivation is under way).</summary>
    async Task<LocalShard?> TakeReplicaAsync(string shard, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + DeactivationWait;
        while (true)
        {
            if (TakeKeptReplica(shard) is { } kept) return kept;
            if (!loaded.TryGetValue(shard, out var replicaKey)) return null;
            try
            {
                if (await grains.GetGrain<IShardReplicaGrain>(replicaKey).HandOver(silo.SiloAddress,
                    cancellationToken))
                    return released.TryRemove(shard, out var given) ? given : null;
            }
            catch (Exception ex) when (Unavailability.IsTransient(ex)) { }
            // Refused while it still counts as loaded here: the call reached another activation of the copy, and the
            // one here is being deactivated, which keeps its shard in a moment.
            if (DateTime.UtcNow > deadline) return null;
            await Task.Delay(50, cancellationToken);
        }
    }

    LocalShard? TakeKeptReplica(string shard)
    {
        foreach (var key in kept.Keys)
            if (ShardCopyPlacement.Parse(key) is { Copy: > 0 } copy && copy.Shard == shard && TakeKept(key) is { } r)
                return r;
        return null;
    }
}
