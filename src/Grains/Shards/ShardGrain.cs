using Catalogs.Shards;
using Catalogs.Shards.Export;
using Catalogs.Shards.Storage;
using Catalogs.Shards.Sync;
using Catalogs.VertexAI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Catalogs.Grains.Shards;

/// <summary>
/// A hash partition of a catalog, keyed <c>tenant/catalog/incarnation/shard</c>: the grain owns the shard's identity,
/// the order of its calls, its timers and its lifecycle; <see cref="LocalShard"/> does the work. Reentrant, so that
/// concurrent writes share fsyncs. A write the store refuses (its lease taken by another activation, a failing disk)
/// answers 503 and deactivates this activation; the next call activates the shard again and replays its log.
/// </summary>
[Reentrant]
public sealed class ShardGrain(IShardStoreProvider stores, IOptions<CatalogsOptions> options,
    MatchingEngineClient vertex,
    ShardExporter exporter, ILogger<ShardGrain> logger) : Grain, IShardGrain
{
    LocalShard? shard;
    // The mirror into Matching Engine, when the catalog is bound to an index, and the timer that drives it.
    ShardSync? sync;
    IGrainTimer? syncTimer;

    IShardStore Store => stores.For(this.GetPrimaryKeyString());

    LocalShardOptions ShardOptions => new(options.Value.SnapshotEveryRecords, options.Value.IndexSnapshotMinInterval,
        Path.Combine(Path.GetFullPath(options.Value.DataPath), "scratch"));

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (LocalShard.Exists(Store)) await OpenAsync(null, cancellationToken);
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        syncTimer?.Dispose();
        if (shard is not null) await shard.DisposeAsync();
    }

    public async Task Initialize(ShardSettings settings, CancellationToken cancellationToken)
    {
        if (shard is null) await OpenAsync(settings, cancellationToken);
        else if (shard.Settings != settings)
            throw CatalogRequestException.Conflict("The shard already exists with other settings.");
    }

    async Task OpenAsync(ShardSettings? settings, CancellationToken cancellationToken)
    {
        var opened = await LocalShard.OpenAsync(Store, settings, ShardOptions, logger, cancellationToken);
        shard = opened;
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

    public Task<SearchHit[]> Search(SearchQuery query, CancellationToken cancellationToken) =>
        Ready().SearchAsync(query, cancellationToken);

    public Task<ShardStats> GetStats(CancellationToken cancellationToken)
    {
        var s = Ready();
        return Task.FromResult(new ShardStats(s.Settings.Shard, s.Count, s.LastSequence, s.SnapshotSequence,
            s.IndexOrigin,
            s.IndexReconciled, sync?.Stats()));
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

    /// <summary>A write through the shard; a store failure answers 503 and retires this activation.</summary>
    async Task<T> Guarded<T>(Func<LocalShard, Task<T>> write)
    {
        var s = Ready();
        try
        {
            return await write(s);
        }
        catch (IOException ex)
        {
            logger.LogError(ex, "Shard {Shard}: its store refused a write; deactivating", this.GetPrimaryKeyString());
            syncTimer?.Dispose();
            DeactivateOnIdle();
            throw CatalogRequestException.Unavailable("The shard could not write durably and is restarting: try " +
                "again.");
        }
    }

    Task Guarded(Func<LocalShard, Task> write) => Guarded(async s => { await write(s); return true; });

    LocalShard Ready() => shard
        ?? throw CatalogRequestException.NotFound("The shard is not initialized (its catalog does not exist).");
}
