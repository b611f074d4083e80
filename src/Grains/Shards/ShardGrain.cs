using System.Text;
using System.Text.Json;
using Catalogs.Grains.Sync;
using Catalogs.Storage;
using Catalogs.VectorIndex;
using Catalogs.VertexAI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Catalogs.Grains.Shards;

/// <summary>
/// A hash partition of a catalog. Writes are ordered by sequence number, appended to the write-ahead log (group
/// commit: concurrent writes share an fsync), applied to the index once durable, and only then acknowledged.
/// On activation the shard loads its newest snapshot and replays the log after it; snapshots are written in the
/// background and let the log be truncated. Searches and loading run on the thread pool, off the grain scheduler.
/// </summary>
[Reentrant]
public sealed class ShardGrain(IOptions<CatalogsOptions> options, MatchingEngineClient vertex, CloudStorageClient storage, ILogger<ShardGrain> logger) : Grain, IShardGrain
{
    const byte UpsertKind = 1, DeleteKind = 2;
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    readonly Dictionary<string, Datapoint> points = new(StringComparer.Ordinal);
    readonly Queue<(long Sequence, string Id, Datapoint? Upsert, TaskCompletionSource<bool>? Removed)> durableNotApplied = new();
    string directory = "";
    ShardSettings? settings;
    WriteAheadLog? log;
    IVectorIndex? index;
    // Index updates run on the thread pool, one batch after another in log order; an acknowledgement awaits its batch.
    Task indexing = Task.CompletedTask;
    long assigned, applied, snapshotSequence, sinceSnapshot;
    Task snapshotTask = Task.CompletedTask;
    // The HNSW graph saved to disk: as of which sequence, when, and how this activation got its index.
    long indexSavedSequence = -1;
    DateTime indexSavedAt = DateTime.MinValue;
    string indexOrigin = "built";
    int indexReconciled;
    // The mirror into Matching Engine, when the catalog is bound to an index, and the timer that drives it.
    ShardSync? sync;
    IGrainTimer? syncTimer;
    long? lastExport;

    string SettingsPath => Path.Combine(directory, "shard.json");
    string IndexSnapshotPath => Path.Combine(directory, "index.hnsw");

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // Key: tenant/catalog/incarnation/shard; every part is validated upstream to be file-name safe.
        directory = Path.Combine(Path.GetFullPath(options.Value.DataPath), "shards", Path.Combine(this.GetPrimaryKeyString().Split('/')));
        if (File.Exists(SettingsPath))
        {
            var saved = JsonSerializer.Deserialize<ShardSettings>(await File.ReadAllBytesAsync(SettingsPath, cancellationToken), Json)!;
            await OpenAsync(saved);
        }
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        await snapshotTask;
        await indexing.ContinueWith(_ => { }, TaskScheduler.Default);
        // The next activation loads the graph instead of rebuilding it (for 100k × 1280: seconds instead of a minute).
        if (settings is not null && applied != indexSavedSequence) await SaveIndexAsync();
        if (log is not null) await log.DisposeAsync();
        (index as IDisposable)?.Dispose();
    }

    /// <summary>Writes the HNSW graph to <see cref="IndexSnapshotPath"/> (temp file, fsync, rename). Its exact
    /// sequence does not matter: a load reconciles it against the products, which are the source of truth.</summary>
    async Task SaveIndexAsync()
    {
        if (index is not HnswIndex hnsw) return;
        long sequence = applied;
        var path = IndexSnapshotPath;
        try
        {
            await Task.Run(() => FileDurability.WriteAtomically(path, hnsw.Save, bufferSize: 1 << 20));
            indexSavedSequence = sequence;
            indexSavedAt = DateTime.UtcNow;
        }
        catch (Exception ex)
        {
            // Only start-up time is at stake: without a graph snapshot the next activation rebuilds the index.
            logger.LogWarning(ex, "Saving the index of shard {Shard} failed", directory);
        }
    }

    public async Task Initialize(ShardSettings settings, CancellationToken cancellationToken)
    {
        if (this.settings is not null)
        {
            if (this.settings != settings) throw new CatalogRequestException(CatalogError.Conflict, "The shard already exists with other settings.");
            return;
        }
        Directory.CreateDirectory(directory);
        var (path, bytes) = (SettingsPath, JsonSerializer.SerializeToUtf8Bytes(settings, Json));
        await Task.Run(() => FileDurability.WriteAllBytesAtomically(path, bytes), cancellationToken);
        await OpenAsync(settings);
    }

    async Task OpenAsync(ShardSettings saved)
    {
        var metric = FilterMapping.ToDistance(saved.Metric);
        var dir = directory;
        // Loading reads every vector: do it on the thread pool, then take the results in this turn.
        var savedSync = ShardSync.Load(dir, vertex, options.Value.Sync, logger);
        var (loadedIndex, loadedPoints, loadedLog, snapshotSeq, origin, reconciled, unsynced, gap) = await Task.Run(() =>
        {
            var map = new Dictionary<string, Datapoint>(StringComparer.Ordinal);
            void Put(Datapoint p) => map[p.Id] = p;
            var snapshot = SnapshotFile.ReadLatest(dir, message => logger.LogWarning("Skipping damaged snapshot: {Message}", message));
            foreach (var entry in snapshot?.Entries ?? []) Put(DatapointCodec.Decode(entry));
            var wal = WriteAheadLog.Open(Path.Combine(dir, "log"));
            long replayed = 0, snapshotAt = snapshot?.Sequence ?? 0;
            // The log is kept from the sync cursor on, so records not yet in Matching Engine are read again too.
            long cursor = savedSync is { Cursor: >= 0 } b ? b.Cursor : long.MaxValue;
            var pending = new List<(long Sequence, string Id, Datapoint? Upsert)>();
            foreach (var record in wal.ReadFrom(Math.Min(cursor, snapshotAt)))
            {
                Datapoint? upsert = record.Kind == UpsertKind ? DatapointCodec.Decode(record.Payload.Span) : null;
                string id = upsert?.Id ?? Encoding.UTF8.GetString(record.Payload.Span);
                if (record.Sequence > cursor) pending.Add((record.Sequence, id, upsert));
                if (record.Sequence <= snapshotAt) continue;
                if (upsert is not null) Put(upsert);
                else map.Remove(id);
                replayed++;
            }
            // Sequences are contiguous: if the cursor is behind the snapshot, the log must start right after it.
            bool syncGap = savedSync is { Cursor: >= 0 } && cursor < snapshotAt && (pending.Count == 0 || pending[0].Sequence != cursor + 1);
            var final = map.Values.Select(p => (p.Id, p.FeatureVector, FilterMapping.ToAttributes(p))).ToList();
            var (idx, origin, reconciled) = LoadIndex(dir, saved, metric, map, final);
            logger.LogInformation("Shard {Shard} loaded {Points} products (snapshot at {Snapshot}, {Replayed} log records replayed), index {Origin} ({Reconciled} reconciled)",
                dir, map.Count, snapshot?.Sequence ?? 0, replayed, origin, reconciled);
            return (idx, map, wal, snapshot?.Sequence ?? 0, origin, reconciled, pending, syncGap);
        });
        index = loadedIndex;
        indexOrigin = origin;
        indexReconciled = reconciled;
        indexSavedSequence = origin == "snapshot" && reconciled == 0 ? Math.Max(loadedLog.LastSequence, snapshotSeq) : -1;
        indexSavedAt = DateTime.UtcNow; // the minimum interval between graph saves counts from activation
        foreach (var (id, p) in loadedPoints) points[id] = p;
        log = loadedLog;
        assigned = applied = Math.Max(loadedLog.LastSequence, snapshotSeq);
        snapshotSequence = snapshotSeq;
        sinceSnapshot = applied - snapshotSeq;
        settings = saved;
        lastExport = LastExport();
        // After the products are in place: a full sync sends them.
        if (savedSync is not null)
        {
            sync = savedSync;
            if (sync.NeedsFullSync || gap)
            {
                if (gap) logger.LogWarning("Shard {Shard}: the log no longer reaches back to the sync cursor; sending everything again", directory);
                sync.Restart();
                sync.EnqueueAll(points.Values, applied);
            }
            else foreach (var (sequence, id, upsert) in unsynced) sync.Enqueue(sequence, id, upsert);
            StartSyncTimer();
        }
    }

    /// <summary>The shard's index for the final product state: its saved graph when one is readable and was built
    /// with the same settings, brought up to date (products changed or removed since it was saved are re-applied), or
    /// else a fresh build on all cores.</summary>
    (IVectorIndex Index, string Origin, int Reconciled) LoadIndex(string dir, ShardSettings saved, DistanceMetric metric,
        Dictionary<string, Datapoint> products, List<(string Id, float[] Vector, PointAttributes Attributes)> final)
    {
        var fresh = CreateIndex(saved, metric);
        var path = Path.Combine(dir, "index.hnsw");
        if (fresh is HnswIndex wanted && File.Exists(path))
        {
            try
            {
                HnswIndex loaded;
                using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20)) loaded = HnswIndex.Load(stream);
                if (loaded.Dimensions == wanted.Dimensions && loaded.Metric == wanted.Metric && loaded.Options with { Seed = 0 } == wanted.Options with { Seed = 0 })
                {
                    wanted.Dispose();
                    var stale = final.Where(p => !loaded.Holds(p.Id, p.Vector, p.Attributes)).ToList();
                    var removed = loaded.Ids().Where(id => !products.ContainsKey(id)).ToList();
                    loaded.UpsertMany(stale);
                    foreach (var id in removed) loaded.Remove(id);
                    return (loaded, "snapshot", stale.Count + removed.Count);
                }
                logger.LogWarning("Index snapshot of shard {Shard} was built with other settings; rebuilding", dir);
                loaded.Dispose();
            }
            catch (IndexSnapshotException ex)
            {
                logger.LogWarning(ex, "Index snapshot of shard {Shard} is unreadable; rebuilding", dir);
            }
        }
        // Built once from the final state, on all cores, instead of replaying every write into it.
        if (fresh is HnswIndex hnsw) hnsw.UpsertMany(final);
        else foreach (var (id, vector, attributes) in final) fresh.Upsert(id, vector, attributes);
        return (fresh, "built", 0);
    }

    static IVectorIndex CreateIndex(ShardSettings settings, DistanceMetric metric) => (settings.Index ?? IndexSpec.Default) switch
    {
        { Kind: IndexKind.Exact } => new ExactIndex(settings.Dimensions, metric),
        var hnsw => new HnswIndex(settings.Dimensions, metric, new HnswOptions(hnsw.M, hnsw.EfConstruction, hnsw.EfSearch,
            Quantization: hnsw.Quantization == IndexQuantization.Int8 ? VectorQuantization.Int8 : VectorQuantization.None)),
    };

    public async Task Upsert(Datapoint[] datapoints, CancellationToken cancellationToken)
    {
        var (wal, s) = Ready();
        // The catalog checked the whole batch already; the shard checks again because it owns the invariant.
        var records = new LogRecord[datapoints.Length];
        for (int i = 0; i < datapoints.Length; i++)
        {
            var p = datapoints[i];
            if (p.FeatureVector.Length != s.Dimensions)
                throw new CatalogRequestException(CatalogError.Invalid, $"Datapoint '{p.Id}' has {p.FeatureVector.Length} dimensions; the catalog has {s.Dimensions}.");
        }
        long last = 0;
        for (int i = 0; i < datapoints.Length; i++)
        {
            last = ++assigned;
            records[i] = new LogRecord(last, UpsertKind, DatapointCodec.Encode(datapoints[i]));
            durableNotApplied.Enqueue((last, datapoints[i].Id, datapoints[i], null));
        }
        await wal.AppendAsync(records);
        await ApplyDurableThrough(last);
    }

    public async Task<bool> Remove(string id, CancellationToken cancellationToken)
    {
        var (wal, _) = Ready();
        // Always logged, even when absent now: an upsert of the same id may be in flight ahead of it.
        var seq = ++assigned;
        var removed = new TaskCompletionSource<bool>();
        durableNotApplied.Enqueue((seq, id, null, removed));
        await wal.AppendAsync(new LogRecord(seq, DeleteKind, Encoding.UTF8.GetBytes(id)));
        await ApplyDurableThrough(seq);
        return await removed.Task;
    }

    /// <summary>The log is sequential, so once record <paramref name="sequence"/> is durable every earlier one is too:
    /// apply them all, in order, whichever caller's continuation gets here first. The product map changes in this turn;
    /// the index changes on the thread pool (HNSW inserts cost milliseconds), chained after the previous batch, and the
    /// returned task completes when the index holds everything up to <paramref name="sequence"/>.</summary>
    Task ApplyDurableThrough(long sequence)
    {
        var changes = new List<(string Id, Datapoint? Upsert)>();
        while (durableNotApplied.TryPeek(out var next) && next.Sequence <= sequence)
        {
            durableNotApplied.Dequeue();
            if (next.Upsert is { } p) points[p.Id] = p;
            else next.Removed?.TrySetResult(points.Remove(next.Id));
            sync?.Enqueue(next.Sequence, next.Id, next.Upsert);
            changes.Add((next.Id, next.Upsert));
            applied = next.Sequence;
            sinceSnapshot++;
        }
        MaybeSnapshot();
        if (changes.Count == 0) return indexing;
        var idx = index!;
        return indexing = indexing.ContinueWith(_ =>
        {
            // Writes to different ids commute: a batch without repeated ids is inserted on all cores.
            if (idx is HnswIndex hnsw && changes.Count > 1 && changes.Select(c => c.Id).Distinct().Count() == changes.Count)
            {
                hnsw.UpsertMany(changes.Where(c => c.Upsert is not null)
                    .Select(c => (c.Id, c.Upsert!.FeatureVector, FilterMapping.ToAttributes(c.Upsert))).ToList());
                foreach (var (id, upsert) in changes) if (upsert is null) idx.Remove(id);
                return;
            }
            foreach (var (id, upsert) in changes)
                if (upsert is not null) idx.Upsert(id, upsert.FeatureVector, FilterMapping.ToAttributes(upsert));
                else idx.Remove(id);
        }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
    }

    void MaybeSnapshot()
    {
        if (!snapshotTask.IsCompleted || sinceSnapshot < options.Value.SnapshotEveryRecords) return;
        snapshotTask = WriteSnapshotAsync();
    }

    async Task WriteSnapshotAsync()
    {
        // The state as of `applied`, captured in this turn: datapoints are immutable, so the references suffice.
        long sequence = applied;
        var items = points.Values.ToArray();
        sinceSnapshot = 0;
        try
        {
            await log!.RollAsync();
            var dir = directory;
            await Task.Run(() => SnapshotFile.WriteAsync(dir, sequence, items.Select(p => (ReadOnlyMemory<byte>)DatapointCodec.Encode(p))));
            snapshotSequence = sequence;
            // Records not yet in Matching Engine stay in the log: it is the outbox.
            // So does everything after the last export, for the next delta export.
            long keepAfter = Math.Min(sync is null ? sequence : Math.Min(sequence, sync.Cursor), lastExport ?? long.MaxValue);
            int deleted = log.DeleteSegmentsThrough(keepAfter);
            if (DateTime.UtcNow - indexSavedAt >= options.Value.IndexSnapshotMinInterval) await SaveIndexAsync();
            logger.LogDebug("Shard {Shard} snapshot at {Sequence}: {Count} products, {Deleted} log segments deleted", directory, sequence, items.Length, deleted);
        }
        catch (Exception ex)
        {
            // The log still holds everything; the next threshold retries.
            logger.LogError(ex, "Snapshot of shard {Shard} at {Sequence} failed", directory, sequence);
        }
    }

    public Task<Datapoint?> Get(string id, CancellationToken cancellationToken)
    {
        Ready();
        return Task.FromResult(points.GetValueOrDefault(id));
    }

    public Task<Datapoint?[]> GetMany(string[] ids, CancellationToken cancellationToken)
    {
        Ready();
        return Task.FromResult(ids.Select(id => points.GetValueOrDefault(id)).ToArray());
    }

    public async Task<SearchHit[]> Search(SearchQuery query, CancellationToken cancellationToken)
    {
        var (_, s) = Ready();
        if (query.Vector.Length != s.Dimensions)
            throw new CatalogRequestException(CatalogError.Invalid, $"The query vector has {query.Vector.Length} dimensions; the catalog has {s.Dimensions}.");
        var idx = index!;
        var searchOptions = new SearchOptions(query.NeighborCount, FilterMapping.ToFilter(query), query.PerCrowdingAttributeNeighborCount, query.ExcludeId, query.Ef);
        var neighbors = await Task.Run(() => idx.Search(query.Vector, searchOptions), cancellationToken);
        var hits = new List<SearchHit>(neighbors.Count);
        foreach (var n in neighbors)
            if (points.TryGetValue(n.Id, out var p)) hits.Add(new SearchHit(n.Id, n.Distance, p));
        return hits.ToArray();
    }

    public Task<ShardStats> GetStats(CancellationToken cancellationToken)
    {
        var (_, s) = Ready();
        return Task.FromResult(new ShardStats(s.Shard, points.Count, applied, snapshotSequence, indexOrigin, indexReconciled, sync?.Stats()));
    }

    public async Task BindSync(string? index, CancellationToken cancellationToken)
    {
        Ready();
        if (index == sync?.Index) return;
        syncTimer?.Dispose();
        syncTimer = null;
        if (index is null)
        {
            sync = null;
            ShardSync.Unbind(directory);
            return;
        }
        // A new index gets everything the shard holds now; later changes follow in log order.
        sync = ShardSync.Open(directory, index, vertex, options.Value.Sync, logger);
        sync.EnqueueAll(points.Values, applied);
        await sync.SaveAsync();
        StartSyncTimer();
    }

    string ExportPath => Path.Combine(directory, "export.json");

    /// <summary>The log sequence of the last export Matching Engine applied; null: none yet (the log need not be kept).</summary>
    long? LastExport() => File.Exists(ExportPath) ? JsonSerializer.Deserialize<long>(File.ReadAllBytes(ExportPath)) : null;

    public async Task<ShardExport> ExportTo(string bucket, string objectName, string deleteObjectName, bool delta, CancellationToken cancellationToken)
    {
        var (wal, _) = Ready();
        long sequence = applied;
        IReadOnlyCollection<Datapoint> upserts;
        IReadOnlyCollection<string> removals = [];
        if (!delta) upserts = points.Values.ToArray(); // immutable records, as of this turn
        else
        {
            long since = lastExport ?? throw new CatalogRequestException(CatalogError.Conflict, "No export was applied yet: run a full export first.");
            // The changes since the last export, read from the log (kept from that export on) and coalesced per id.
            var last = await Task.Run(() =>
            {
                var changes = new Dictionary<string, Datapoint?>(StringComparer.Ordinal);
                long expected = since + 1;
                foreach (var record in wal.ReadFrom(since))
                {
                    if (record.Sequence > sequence) break;
                    if (record.Sequence != expected) throw new CatalogRequestException(CatalogError.Conflict, "The log no longer reaches back to the last export: run a full export.");
                    expected++;
                    if (record.Kind == UpsertKind) { var p = DatapointCodec.Decode(record.Payload.Span); changes[p.Id] = p; }
                    else changes[Encoding.UTF8.GetString(record.Payload.Span)] = null;
                }
                if (expected <= sequence) throw new CatalogRequestException(CatalogError.Conflict, "The log no longer reaches back to the last export: run a full export.");
                return changes;
            }, cancellationToken);
            upserts = last.Values.OfType<Datapoint>().ToArray();
            removals = last.Where(c => c.Value is null).Select(c => c.Key).ToArray();
        }
        var objects = new List<string>();
        if (upserts.Count > 0 || !delta)
        {
            await UploadJsonlAsync(bucket, objectName, upserts.Select(p => JsonlRecord.Format(ShardSync.ToIndexDatapoint(p))), cancellationToken);
            objects.Add(objectName);
        }
        if (removals.Count > 0)
        {
            await UploadJsonlAsync(bucket, deleteObjectName, removals, cancellationToken);
            objects.Add(deleteObjectName);
        }
        return new ShardExport(sequence, upserts.Count, removals.Count, objects.ToArray());
    }

    /// <summary>Lines written on the thread pool into a pipe that the resumable upload reads: nothing is held in memory
    /// as a whole.</summary>
    async Task UploadJsonlAsync(string bucket, string objectName, IEnumerable<string> lines, CancellationToken cancellationToken)
    {
        var pipe = new System.IO.Pipelines.Pipe();
        var writing = Task.Run(async () =>
        {
            try
            {
                await using var writer = pipe.Writer.AsStream();
                foreach (var line in lines) await writer.WriteAsync(Encoding.UTF8.GetBytes(line + "\n"), cancellationToken);
            }
            catch (Exception ex)
            {
                await pipe.Writer.CompleteAsync(ex);
                throw;
            }
        }, cancellationToken);
        await using var reader = pipe.Reader.AsStream();
        await storage.UploadAsync(bucket, objectName, reader, "application/json", cancellationToken);
        await writing;
    }

    public async Task CommitExport(long sequence, CancellationToken cancellationToken)
    {
        Ready();
        var bytes = JsonSerializer.SerializeToUtf8Bytes(sequence);
        var path = ExportPath;
        await Task.Run(() => FileDurability.WriteAllBytesAtomically(path, bytes), cancellationToken);
        lastExport = sequence;
    }

    public Task<DeadLetter[]> GetDeadLetters(CancellationToken cancellationToken)
    {
        Ready();
        return Task.FromResult(sync?.DeadLetters.ToArray() ?? []);
    }

    /// <summary>Drives the outbox; keeps the shard active while it is bound, so a backlog drains without callers.</summary>
    void StartSyncTimer()
    {
        var every = options.Value.Sync.PollInterval;
        syncTimer = this.RegisterGrainTimer(ct => sync?.PumpAsync(ct) ?? Task.CompletedTask,
            new GrainTimerCreationOptions(every, every) { Interleave = true, KeepAlive = true });
    }

    public async Task Drop(CancellationToken cancellationToken)
    {
        syncTimer?.Dispose();
        syncTimer = null;
        sync = null;
        await snapshotTask;
        if (log is not null) await log.DisposeAsync();
        log = null;
        settings = null;
        points.Clear();
        if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        DeactivateOnIdle();
    }

    (WriteAheadLog Log, ShardSettings Settings) Ready() =>
        log is not null && settings is not null ? (log, settings) : throw new CatalogRequestException(CatalogError.NotFound, "The shard is not initialized (its catalog does not exist).");
}
