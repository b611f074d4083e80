using Catalogs.Grains.Placement;
using Catalogs.Shards;
using Catalogs.Shards.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Catalogs.Grains.Shards;

/// <summary>
/// A read replica of a shard, keyed <c>{shard key}/r{copy}</c>, on another silo than the primary: it loads the
/// shard's latest snapshot from the shared store in the background and then polls the log for what the primary
/// appended. Until loaded, or when it could not catch up for too long, it refuses with 503 so the catalog asks
/// another copy. It never writes. Reentrant: searches run while it catches up.
/// </summary>
[Reentrant, ShardCopyPlacement]
public sealed class ShardReplicaGrain(IShardStoreProvider stores, IOptions<CatalogsOptions> options,
    ShardRebalancer rebalancer, ShardHandover handover, ILogger<ShardReplicaGrain> logger)
    : Grain, IShardReplicaGrain
{
    LocalShard? replica;
    // The load or catch-up under way (one at a time).
    Task polling = Task.CompletedTask;
    // Searches under way on the replica: a hand-over waits for them (the shard is not shared between turns).
    readonly HashSet<Task> searches = [];
    // Given to the primary: this activation loads nothing more and moves on (its placement is elsewhere now).
    bool handedOver;

    string Key => this.GetPrimaryKeyString();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // What the previous activation here had loaded, if the runtime deactivated it: caught up by the first poll,
        // refusing until then.
        if (handover.TakeKept(Key) is { } kept)
        {
            replica = kept;
            handover.Loaded(Shard, Key);
        }
        // A replica on the silo its primary now belongs on (the primary's silo died) stays there until the primary
        // opens: it is the copy the primary takes over in place.
        rebalancer.Watch(this, stay: () => replica is not null && rebalancer.BelongsHere(Shard)
            && !handover.IsPrimaryHere(Shard));
        var every = options.Value.ReplicaPollInterval;
        // Kept alive by its timer: a replica is a warm standby, not a cache that may go cold.
        this.RegisterGrainTimer(PollAsync, new GrainTimerCreationOptions(TimeSpan.Zero, every)
        { Interleave = true, KeepAlive = true });
        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        await polling.ContinueWith(_ => { }, TaskScheduler.Default);
        if (ShardHandover.Keeps(reason) && replica is { } loaded)
        {
            replica = null;
            handover.Keep(Key, loaded); // kept before it stops counting as loaded: a primary opening looks for both
            handover.Unloaded(Shard, Key);
        }
        else await UnloadAsync();
    }

    /// <summary>Drops the loaded copy, if any.</summary>
    async Task UnloadAsync()
    {
        if (replica is not { } loaded) return;
        replica = null;
        handover.Unloaded(Shard, Key);
        await loaded.DisposeAsync();
    }

    string Shard => ShardCopyPlacement.Parse(Key).Shard;

    Task PollAsync(CancellationToken cancellationToken)
    {
        if (!polling.IsCompleted) return Task.CompletedTask;
        return polling = PollCoreAsync(cancellationToken);
    }

    /// <summary>Loads the replica when it has none, else applies what the log holds since.</summary>
    async Task PollCoreAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (handedOver) return;
            if (!rebalancer.HasOwnSilo(Key))
            {
                // More copies than silos: this one waits (not loaded, so the catalog reports it under-replicated).
                await UnloadAsync();
                return;
            }
            if (replica is null) await LoadAsync(cancellationToken);
            else if (!await replica.CatchUpAsync(cancellationToken))
            {
                logger.LogInformation("Replica {Key} fell behind the log's retention; loading again", Key);
                await UnloadAsync();
            }
        }
        catch (Exception ex) when (ShardGrain.IsStoreFailure(ex))
        {
            logger.LogWarning("Replica {Key} cannot read its store now: {Error}", Key, ex.Message);
        }
    }

    async Task LoadAsync(CancellationToken cancellationToken)
    {
        var shard = Shard;
        try
        {
            replica = await LocalShard.OpenReplicaAsync(stores.For(shard), options.Value.ShardOptions(shard), logger,
                cancellationToken);
            handover.Loaded(shard, Key);
            logger.LogInformation("Replica {Key} loaded {Count} products through sequence {Sequence}", Key,
                replica.Count, replica.LastSequence);
        }
        catch (CatalogRequestException ex) when (ex.Error == CatalogError.NotFound)
        {
            DeactivateOnIdle(); // the shard is gone (its catalog was dropped)
        }
    }

    LocalShard Ready() => replica is { } r && DateTime.UtcNow - r.CaughtUpAt <= options.Value.ReplicaMaxStaleness
        ? r
        : throw CatalogRequestException.Unavailable(handedOver ? "This replica became the primary: ask another copy."
            : replica is null ? "This replica is still loading: ask another copy."
            : "This replica cannot reach its store: ask another copy.");

    public Task Warm(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task<SearchHit[]> Search(SearchQuery query, CancellationToken cancellationToken)
    {
        var search = Ready().SearchAsync(query, cancellationToken);
        searches.Add(search);
        try
        {
            return await search;
        }
        finally
        {
            searches.Remove(search);
        }
    }

    public Task<Datapoint?> Get(string id, CancellationToken cancellationToken) => Task.FromResult(Ready().Get(id));

    public Task<ReplicaStats> GetStats(CancellationToken cancellationToken) => Task.FromResult(new ReplicaStats(
        ShardCopyPlacement.Parse(Key).Copy, rebalancer.Silo.ToString(), replica is not null,
        replica?.LastSequence ?? 0, replica is null ? 0 : (DateTime.UtcNow - replica.CaughtUpAt).TotalSeconds,
        replica?.Count ?? 0));

    public async Task<bool> HandOver(SiloAddress to, CancellationToken cancellationToken)
    {
        // An activation elsewhere (this copy's placement moved with the dead silo) holds nothing the caller can take.
        if (to != rebalancer.Silo) return false;
        await polling.ContinueWith(_ => { }, TaskScheduler.Default); // no catch-up may run on a shard given away
        if (replica is not { } given) return false;
        (replica, handedOver) = (null, true);
        await Task.WhenAll(searches.Select(s => s.ContinueWith(_ => { }, TaskScheduler.Default)));
        handover.Unloaded(Shard, Key);
        handover.Release(Shard, given);
        MigrateOnIdle();
        return true;
    }

    public Task Retire(CancellationToken cancellationToken)
    {
        DeactivateOnIdle();
        return Task.CompletedTask;
    }
}
