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
    ShardRebalancer rebalancer, ILogger<ShardReplicaGrain> logger) : Grain, IShardReplicaGrain
{
    LocalShard? replica;
    Task? loading;
    bool polling;

    string Key => this.GetPrimaryKeyString();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        rebalancer.Watch(this);
        var every = options.Value.ReplicaPollInterval;
        // Kept alive by its timer: a replica is a warm standby, not a cache that may go cold.
        this.RegisterGrainTimer(PollAsync, new GrainTimerCreationOptions(TimeSpan.Zero, every)
        { Interleave = true, KeepAlive = true });
        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (loading is not null) await loading.ContinueWith(_ => { }, TaskScheduler.Default);
        if (replica is not null) await replica.DisposeAsync();
        replica = null;
    }

    /// <summary>Loads the replica when it has none, else applies what the log holds since.</summary>
    async Task PollAsync(CancellationToken cancellationToken)
    {
        if (polling) return;
        polling = true;
        try
        {
            if (replica is null) await (loading ??= LoadAsync(cancellationToken));
            else if (!await replica.CatchUpAsync(cancellationToken))
            {
                logger.LogInformation("Replica {Key} fell behind the log's retention; loading again", Key);
                var stale = replica;
                replica = null;
                await stale.DisposeAsync();
            }
        }
        catch (Exception ex) when (ex is IOException or System.Data.Common.DbException)
        {
            logger.LogWarning("Replica {Key} cannot read its store now: {Error}", Key, ex.Message);
        }
        finally
        {
            polling = false;
        }
    }

    async Task LoadAsync(CancellationToken cancellationToken)
    {
        var (shard, _) = ShardCopyPlacement.Parse(Key);
        try
        {
            replica = await LocalShard.OpenReplicaAsync(stores.For(shard), ShardOptions(shard), logger,
                cancellationToken);
            logger.LogInformation("Replica {Key} loaded {Count} products through sequence {Sequence}", Key,
                replica.Count, replica.LastSequence);
        }
        catch (CatalogRequestException ex) when (ex.Error == CatalogError.NotFound)
        {
            DeactivateOnIdle(); // the shard is gone (its catalog was dropped)
        }
        finally
        {
            loading = null;
        }
    }

    LocalShardOptions ShardOptions(string shard) => new(options.Value.SnapshotEveryRecords,
        options.Value.IndexSnapshotMinInterval, Path.Combine(Path.GetFullPath(options.Value.DataPath), "scratch"),
        Name: shard);

    LocalShard Ready() => replica is { } r && DateTime.UtcNow - r.CaughtUpAt <= options.Value.ReplicaMaxStaleness
        ? r
        : throw CatalogRequestException.Unavailable(replica is null
            ? "This replica is still loading: ask another copy."
            : "This replica cannot reach its store: ask another copy.");

    public Task Warm(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<SearchHit[]> Search(SearchQuery query, CancellationToken cancellationToken) =>
        Ready().SearchAsync(query, cancellationToken);

    public Task<Datapoint?> Get(string id, CancellationToken cancellationToken) => Task.FromResult(Ready().Get(id));

    public Task<ReplicaStats> GetStats(CancellationToken cancellationToken) => Task.FromResult(new ReplicaStats(
        ShardCopyPlacement.Parse(Key).Copy, rebalancer.Silo.ToString(), replica is not null,
        replica?.LastSequence ?? 0, replica is null ? 0 : (DateTime.UtcNow - replica.CaughtUpAt).TotalSeconds,
        replica?.Count ?? 0));

    public Task Retire(CancellationToken cancellationToken)
    {
        DeactivateOnIdle();
        return Task.CompletedTask;
    }
}
