using Catalogs.Grains.Placement;
using Catalogs.Shards;
using Catalogs.Shards.Export;
using Catalogs.Shards.Storage;
using Catalogs.Shards.Sync;
using Catalogs.Storage;
using Catalogs.VertexAI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Catalogs.Grains.Shards;

/// <summary>
/// A hash partition of a catalog, keyed <c>tenant/catalog/incarnation/shard</c>: the grain owns the shard's identity,
/// the order of its calls, its timers and its lifecycle; <see cref="LocalShard"/> does the work. Reentrant, so that
/// concurrent writes share fsyncs. A write the store refuses answers 503. If another activation took the lease, this
/// one retires. If the store itself failed (a full disk, a database restarting), this activation goes on answering
/// reads from memory and reopens the shard (new lease, snapshot, log) at the next write.
/// </summary>
[Reentrant, ShardCopyPlacement]
public sealed class ShardGrain(IShardStoreProvider stores, IOptions<CatalogsOptions> options,
    MatchingEngineClient vertex, ShardExporter exporter, ShardRebalancer rebalancer, ShardHandover handover,
    ILogger<ShardGrain> logger)
    : Grain, IShardGrain
{
    LocalShard? shard;
    // Set when the store failed a write: the next write reopens the shard first (one reopening at a time).
    bool reopen;
    Task? reopening;
    // The mirror into Matching Engine, when the catalog is bound to an index, and the timer that drives it.
    ShardSync? sync;
    IGrainTimer? syncTimer;

    IShardStore Store => stores.For(this.GetPrimaryKeyString());

    LocalShardOptions ShardOptions => options.Value.ShardOptions(this.GetPrimaryKeyString());

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        rebalancer.Watch(this);
        try
        {
            if (LocalShard.Exists(Store)) await OpenAsync(null, cancellationToken);
        }
        catch (Exception ex) when (IsStoreFailure(ex))
        {
            throw Unreachable(ex);
        }
    }

    static CatalogRequestException Unreachable(Exception storeFailure) =>
        CatalogRequestException.Unavailable($"The shard's store cannot be reached: {storeFailure.Message}");

    /// <summary>The store failing (a full disk, a database restarting), as opposed to a bad request.</summary>
    internal static bool IsStoreFailure(Exception ex) => ex is IOException or System.Data.Common.DbException;

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        syncTimer?.Dispose();
        handover.PrimaryClosed(this.GetPrimaryKeyString());
        if (shard is null) return;
        if (ShardHandover.Keeps(reason) && !reopen)
        {
            ShardSync.Detach(shard); // the next activation attaches its own
            handover.Keep(this.GetPrimaryKeyString(), shard);
        }
        else await shard.DisposeAsync();
    }

    public async Task Initialize(ShardSettings settings, CancellationToken cancellationToken)
    {
        if (shard is null) await OpenAsync(settings, cancellationToken);
        else if (shard.Settings != settings)
            throw CatalogRequestException.Conflict("The shard already exists with other settings.");
    }

    /// <summary>Opens the shard: as the previous activation here left it when the runtime deactivated that one, in
    /// place from a replica loaded on this silo (failover, a move), else from the store.</summary>
    async Task OpenAsync(ShardSettings? settings, CancellationToken cancellationToken)
    {
        var key = this.GetPrimaryKeyString();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Serve((settings is null ? handover.TakeKept(key) ?? await handover.TakeAsync(key, Store, cancellationToken)
            : null) ?? await LocalShard.OpenAsync(Store, settings, ShardOptions, logger, cancellationToken));
        logger.LogInformation("Shard {Shard} open as the primary in {Elapsed:F0} ms (lease {Epoch}, index {Origin})",
            key, clock.Elapsed.TotalMilliseconds, shard!.LeaseEpoch, shard.IndexOrigin);
    }

    /// <summary>Makes <paramref name="opened"/> the shard this activation serves, with its saved sync
    /// resumed.</summary>
    void Serve(LocalShard opened)
    {
        shard = opened;
        handover.PrimaryOpened(this.GetPrimaryKeyString());
        if (ShardSync.Load(opened.Store, vertex, options.Value.Sync, logger) is { } saved) Attach(saved, resume: true);
    }

    void Attach(ShardSync outbox, bool resume)
    {
        outbox.Attach(shard!, resume);
        sync = outbox;
        var every = options.Value.Sync.PollInterval;
        syncTimer = this.RegisterGrainTimer(ct => sync?.PumpAsync(ct) ?? Task.CompletedTask,
            new GrainTimerCreationOptions(every, every) { Interleave = true, KeepAlive = true });
    }

    public Task Upsert(ProductWrite[] writes, CancellationToken cancellationToken) => Guarded(s => s.UpsertAsync(
        writes.Select(w => w.Datapoint).ToArray(), writes.Any(w => w.Image is not null) ? writes.Select(w =>
            w.Image).ToArray() : null));

    public Task<ProductImage?> GetImage(string id, int? size, CancellationToken cancellationToken) =>
        Ready().GetImageAsync(id, size, cancellationToken);

    public Task<bool> Remove(string id, CancellationToken cancellationToken) => Guarded(s => s.RemoveAsync(id));

    public Task<Datapoint?> Get(string id, CancellationToken cancellationToken) => Task.FromResult(Ready().Get(id));

    public Task<Datapoint?[]> GetMany(string[] ids, CancellationToken cancellationToken) =>
        Task.FromResult(ids.Select(Ready().Get).ToArray());

    public Task<string[]> GetIds(CancellationToken cancellationToken) => Task.FromResult(Ready().Ids());

    public Task<SearchHit[]> Search(SearchQuery query, CancellationToken cancellationToken) =>
        Ready().SearchAsync(query, cancellationToken);

    public Task<CatalogFacets> GetFacets(int maxTokens, CancellationToken cancellationToken) =>
        Task.FromResult(Ready().Facets(maxTokens));

    public Task<ShardStats> GetStats(CancellationToken cancellationToken)
    {
        var s = Ready();
        return Task.FromResult(new ShardStats(s.Settings.Shard, s.Count, s.LastSequence, s.SnapshotSequence,
            s.IndexOrigin, s.IndexReconciled, sync?.Stats(), rebalancer.Silo.ToString(),
            IndexBytes: s.IndexMemory.Total, IndexMappedBytes: s.IndexMemory.MappedBytes, StoredBytes: s.StoredBytes,
            WithoutImage: s.WithoutImage, LeaseEpoch: s.LeaseEpoch));
    }

    public Task BindSync(string? index, CancellationToken cancellationToken) => Guarded(async s =>
    {
        if (index == sync?.Index) return;
        syncTimer?.Dispose();
        (syncTimer, sync) = (null, null);
        if (index is null)
        {
            ShardSync.Detach(s);
            await ShardSync.UnbindAsync(s.Store);
            return;
        }
        // A new index gets everything the shard holds now; later changes follow in log order.
        var outbox = ShardSync.Open(s.Store, index, vertex, options.Value.Sync, logger);
        Attach(outbox, resume: false);
        await outbox.SaveAsync();
    });

    public Task<ShardExport> ExportTo(string bucket, string objectName, string deleteObjectName, bool delta,
        CancellationToken cancellationToken) =>
        exporter.ExportAsync(Ready(), bucket, objectName, deleteObjectName, delta, cancellationToken);

    public Task CommitExport(long sequence, CancellationToken cancellationToken) => Guarded(s =>
        s.CommitExportAsync(sequence));

    public Task<DeadLetter[]> GetDeadLetters(CancellationToken cancellationToken)
    {
        Ready();
        return Task.FromResult(sync?.DeadLetters.ToArray() ?? []);
    }

    public async Task Drop(CancellationToken cancellationToken)
    {
        syncTimer?.Dispose();
        (syncTimer, sync) = (null, null);
        DeactivateOnIdle();
        var s = shard;
        shard = null;
        if (s is not null) await s.DestroyAsync();
    }

    /// <summary>A write through the shard; a store failure answers 503 (see the class remarks).</summary>
    async Task<T> Guarded<T>(Func<LocalShard, Task<T>> write)
    {
        if (reopen)
        {
            // Concurrent writes share one reopening; a failed one is forgotten, so the next write tries again.
            var pending = reopening ??= ReopenAsync();
            try
            {
                await pending;
            }
            finally
            {
                if (ReferenceEquals(reopening, pending)) reopening = null;
            }
        }
        var s = Ready();
        try
        {
            return await write(s);
        }
        // Fenced now, or fenced earlier and refused since: either way the lease is another activation's.
        catch (Exception ex) when (ex is FencedException || ex.InnerException is FencedException)
        {
            logger.LogError(ex, "Shard {Shard}: another activation holds its lease; deactivating",
                this.GetPrimaryKeyString());
            syncTimer?.Dispose();
            DeactivateOnIdle();
            throw CatalogRequestException.Unavailable("The shard moved to another activation: try again.");
        }
        catch (Exception ex) when (IsStoreFailure(ex))
        {
            logger.LogError(ex, "Shard {Shard}: its store refused a write; reads go on, the next write reopens it",
                this.GetPrimaryKeyString());
            reopen = true;
            throw CatalogRequestException.Unavailable("The shard could not write durably and reopens at the next " +
                "write: try again.");
        }
    }

    /// <summary>Opens the shard anew (its writer failed); the old instance serves reads until the new one is
    /// ready.</summary>
    async Task ReopenAsync()
    {
        try
        {
            var fresh = await LocalShard.OpenAsync(Store, null, ShardOptions, logger, CancellationToken.None);
            var old = shard;
            syncTimer?.Dispose();
            (syncTimer, sync, reopen) = (null, null, false);
            Serve(fresh);
            if (old is not null) await old.DisposeAsync(); // its writer is fenced now: it saves nothing
            logger.LogInformation("Shard {Shard} reopened after a store failure", this.GetPrimaryKeyString());
        }
        catch (Exception ex) when (IsStoreFailure(ex))
        {
            throw Unreachable(ex);
        }
    }

    Task Guarded(Func<LocalShard, Task> write) => Guarded(async s => { await write(s); return true; });

    LocalShard Ready() => shard
        ?? throw CatalogRequestException.NotFound("The shard is not initialized (its catalog does not exist).");
}
