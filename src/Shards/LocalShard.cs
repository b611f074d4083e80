using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Catalogs.Grains;
using Catalogs.Imaging;
using Catalogs.Shards.Storage;
using Catalogs.Storage;
using Catalogs.Text;
using Catalogs.VectorIndex;
using Microsoft.Extensions.Logging;

namespace Catalogs.Shards;

/// <summary>One change of a shard, in log order: an upsert (with the product) or a removal (Upsert null).</summary>
public readonly record struct ShardChange(long Sequence, string Id, Datapoint? Upsert);

/// <summary>
/// One hash partition of a catalog, without Orleans: its products, its index, and its store (write-ahead log,
/// snapshots, index graph, metadata) held under the store's write lease. Writes get sequence numbers in call order,
/// are appended to the log (concurrent writes share an fsync), applied once durable, and only then acknowledged;
/// <see cref="Changed"/> sees every applied change in order (the change feed the Matching Engine sync consumes).
/// Opening loads the newest snapshot, replays the log after it and loads the saved index graph, reconciled against
/// the products (the source of truth), or builds the index on all cores.
/// Each vector is held once, by the index: a product record keeps its own vector only until the index has applied
/// it (so a read in between sees the record whole), then only its payload; reads that want vectors get them from
/// the index (<see cref="Get"/>, <see cref="WithVector"/>).
/// Not thread-safe for writes: one caller at a time (the shard grain's turns); searches and loading run on the
/// thread pool. A write the store refuses (a lost lease, a failing disk) fails, and so does every later write:
/// the owner closes the shard and opens it again, which replays the log.
/// </summary>
public sealed class LocalShard : IAsyncDisposable
{
    const byte UpsertKind = 1, DeleteKind = 2;
    const string SettingsName = "shard.json", IndexBlobName = "index.hnsw", ExportMarkName = "export.json";
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    IShardReader reader;
    // Null on a read replica, which applies what the lease holder logs and never writes (until promoted).
    IShardWriter? writer;
    readonly LocalShardOptions options;
    readonly ILogger logger;
    readonly Dictionary<string, Datapoint> points;
    readonly FacetCounts facets = new();
    // The products' text (ProductText), ranked by BM25; each entry keeps the attributes filters read.
    readonly Bm25Index<PointAttributes> text = new();
    readonly Queue<(long Sequence, string Id, Datapoint? Upsert,
        TaskCompletionSource<bool>? Removed)> durableNotApplied = new();
    readonly IVectorIndex index;
    // Images by content hash: how many products (stored or on their way) reference each, and deletions under way.
    readonly Dictionary<string, int> imageReferences = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<string, Task> imageDeletions = new(StringComparer.Ordinal);
    // Index updates run on the thread pool, one batch after another in log order; an acknowledgement awaits its batch.
    Task indexing = Task.CompletedTask;
    long assigned, applied, sinceSnapshot;
    Task snapshotTask = Task.CompletedTask;
    long indexSavedSequence;
    DateTime indexSavedAt = DateTime.UtcNow; // the minimum interval between graph saves counts from opening
    int indexSavedCount; // products the saved graph is known to hold (0: none saved, or unknown)
    Exception? failure;

    LocalShard(IShardReader reader, IShardWriter? writer, ShardSettings settings, LocalShardOptions options,
        ILogger logger, Dictionary<string, Datapoint> points, IVectorIndex index, long last, long snapshotSequence,
        IndexLoad load)
    {
        this.reader = reader;
        this.writer = writer;
        Settings = settings;
        this.options = options;
        this.logger = logger;
        this.points = points;
        this.index = index;
        assigned = applied = last;
        SnapshotSequence = snapshotSequence;
        sinceSnapshot = last - snapshotSequence;
        IndexOrigin = load.Origin;
        IndexReconciled = load.Reconciled;
        indexSavedSequence = load.Origin == "snapshot" && load.Reconciled == 0 ? last : -1;
        indexSavedCount = load.Origin == "snapshot" ? points.Count : 0;
        ExportMark = reader.ReadMetadata(ExportMarkName) is { } mark ? JsonSerializer.Deserialize<long>(mark) : null;
        foreach (var p in points.Values)
        {
            Retain(p.ImageSha256);
            facets.Add(p);
            IndexText(p.Id, p, null);
            StoredBytes += BytesOf(p);
            if (p.ImageSha256 is null) WithoutImage++;
        }
        Tags = TagsFor(options.Name, writer is null);
        ShardMetrics.Opened(this);
    }

    /// <summary>The tags of this shard's measurements: its name and role.</summary>
    internal KeyValuePair<string, object?>[] Tags { get; private set; }

    static KeyValuePair<string, object?>[] TagsFor(string name, bool replica) =>
        [new("shard", name), new("role", replica ? "replica" : "primary")];

    /// <summary>A read replica: it follows the store (<see cref="CatchUpAsync"/>) and refuses writes.</summary>
    public bool IsReplica => writer is null;

    /// <summary>The lease this primary writes under (0 for a replica).</summary>
    public long LeaseEpoch => writer?.Epoch ?? 0;

    /// <summary>When a replica last found nothing more to apply (how stale it can be); a primary is never
    /// stale.</summary>
    public DateTime CaughtUpAt { get; private set; } = DateTime.UtcNow;

    public IndexMemory IndexMemory => index.Memory;

    public ShardSettings Settings { get; }

    /// <summary>The store this shard holds the lease of (for collaborators' metadata).</summary>
    public IShardWriter Store => writer ?? throw new InvalidOperationException("A read replica does not write.");

    /// <summary>The last applied (acknowledged) log sequence.</summary>
    public long LastSequence => applied;

    public long SnapshotSequence { get; private set; }

    public int Count => points.Count;

    /// <summary>The products' restrict tokens with counts and numeric ranges, as applied.</summary>
    public CatalogFacets Facets(int maxTokens) => facets.Read(maxTokens);

    /// <summary>What the products take, as tenant quotas count it: each one's image as uploaded and its vector
    /// (records written before images were measured count their vectors only).</summary>
    public long StoredBytes { get; private set; }

    /// <summary>Products stored without an original image: their vectors came as given.</summary>
    public int WithoutImage { get; private set; }

    long BytesOf(Datapoint? p) => p is null ? 0 : p.ImageBytes + (long)Settings.Dimensions * sizeof(float);

    /// <summary>How the index was obtained at opening: <c>snapshot</c> (loaded) or <c>built</c>.</summary>
    public string IndexOrigin { get; private set; }

    public int IndexReconciled { get; }

    /// <summary>The log sequence of the last export Matching Engine applied; null: none yet.</summary>
    public long? ExportMark { get; private set; }

    /// <summary>Sees every change as it is applied, in log order (called on the writer's turn).</summary>
    public Action<ShardChange>? Changed { get; set; }

    /// <summary>The log must be kept after this sequence (the sync cursor, the export mark): snapshots never
    /// truncate past it.</summary>
    public Func<long> KeepLogAfter { get; set; } = () => long.MaxValue;

    /// <summary>Whether the store has a shard (its settings were written).</summary>
    public static bool Exists(IShardStore store) => store.ReadMetadata(SettingsName) is not null;

    /// <summary>Opens the shard in <paramref name="store"/>: with <paramref name="settings"/> it is created when absent
    /// (and must match when present); without, it must exist. Takes the store's write lease.</summary>
    public static async Task<LocalShard> OpenAsync(IShardStore store, ShardSettings? settings,
        LocalShardOptions options, ILogger logger, CancellationToken cancellationToken)
    {
        var saved = store.ReadMetadata(SettingsName) is { } bytes
            ? JsonSerializer.Deserialize<ShardSettings>(bytes, Json)
            : null;
        if (saved is not null && settings is not null && saved != settings)
            throw CatalogRequestException.Conflict("The shard already exists with other settings.");
        var effective = saved ?? settings
            ?? throw CatalogRequestException.NotFound("The shard is not initialized (its catalog does not exist).");
        var writer = await store.OpenWriterAsync(cancellationToken);
        try
        {
            if (saved is null)
                await writer.WriteMetadataAsync(SettingsName, JsonSerializer.SerializeToUtf8Bytes(effective, Json));
            ShardMetrics.LeaseTaken(options.Name);
            // Loading reads every vector: on the thread pool.
            return await Task.Run(() => Load(writer, writer, effective, options, logger), cancellationToken);
        }
        catch
        {
            await writer.DisposeAsync();
            throw;
        }
    }

    /// <summary>Opens a read replica of the shard in <paramref name="store"/> (which must exist): no lease, no
    /// writes; <see cref="CatchUpAsync"/> brings it up to date.</summary>
    public static async Task<LocalShard> OpenReplicaAsync(IShardStore store, LocalShardOptions options,
        ILogger logger, CancellationToken cancellationToken)
    {
        var reader = store.OpenReader();
        var settings = reader.ReadMetadata(SettingsName) is { } bytes
            ? JsonSerializer.Deserialize<ShardSettings>(bytes, Json)!
            : throw CatalogRequestException.NotFound("The shard is not initialized (its catalog does not exist).");
        // Read beside a writer, a blob can be replaced under the reader (a newer graph or snapshot): read again.
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await Task.Run(() => Load(reader, null, settings, options, logger), cancellationToken);
            }
            catch (IOException ex) when (attempt < 5)
            {
                logger.LogDebug("Loading the replica again ({Attempt}): {Error}", attempt, ex.Message);
                await Task.Delay(TimeSpan.FromMilliseconds(50 * attempt), cancellationToken);
            }
        }
    }

    static LocalShard Load(IShardReader store, IShardWriter? writer, ShardSettings settings,
        LocalShardOptions options, ILogger logger)
    {
        var map = new Dictionary<string, Datapoint>(StringComparer.Ordinal);
        var snapshot = store.ReadLatestSnapshot(message => logger.LogWarning("Skipping damaged snapshot: {Message}",
            message));
        foreach (var entry in snapshot?.Entries ?? []) { var p = DatapointCodec.Decode(entry); map[p.Id] = p; }
        long snapshotAt = snapshot?.Sequence ?? 0, replayed = 0, lastLogged = snapshotAt;
        foreach (var change in Changes(store.ReadLog(snapshotAt)))
        {
            // A replica reads beside the writer, which may snapshot and truncate the log meanwhile: a gap after the
            // snapshot it read means records it would miss. (A primary holds the lease: nobody truncates.)
            if (writer is null && change.Sequence != lastLogged + 1) throw LogMovedOn();
            if (change.Upsert is { } p) map[p.Id] = p;
            else map.Remove(change.Id);
            replayed++;
            lastLogged = change.Sequence;
        }
        if (writer is null && replayed == 0 && store.LogFloor() > snapshotAt) throw LogMovedOn();
        var final = map.Values.Select(p => (p.Id, p.FeatureVector, FilterMapping.ToAttributes(p))).ToList();
        // A replica loads in the background, where nothing waits for it: on one core, leaving the others to the
        // copies that serve (after a failover, the promoted primary on a busy silo). A primary loads on all cores.
        var (index, load) = LoadIndex(store, settings, RerankDirectory(settings, options), map, final,
            threads: writer is null ? 1 : 0, logger);
        final.Clear();
        foreach (var p in map.Values.ToArray()) map[p.Id] = WithoutVector(p);
        logger.LogInformation("Shard loaded {Points} products (snapshot at {Snapshot}, {Replayed} log records " +
            "replayed), " +
            "index {Origin} ({Reconciled} reconciled)", map.Count, snapshotAt, replayed, load.Origin, load.Reconciled);
        return new LocalShard(store, writer, settings, options, logger, map, index,
            Math.Max(writer?.LastSequence ?? lastLogged, snapshotAt), snapshotAt, load);
    }

    static IOException LogMovedOn() =>
        new("The log was truncated past the snapshot while it was read (a newer snapshot is there).");

    readonly record struct IndexLoad(string Origin, int Reconciled);

    /// <summary>The index for the final product state: the saved graph when readable and built with the same
    /// settings, brought up to date (products changed or removed since it was saved), else a fresh build.</summary>
    static (IVectorIndex, IndexLoad) LoadIndex(IShardReader store, ShardSettings settings, string? rerankDirectory,
        Dictionary<string, Datapoint> products,
        List<(string Id, float[] Vector, PointAttributes Attributes)> final, int threads, ILogger logger)
    {
        var fresh = CreateIndex(settings, rerankDirectory);
        if (store.OpenBlob(IndexBlobName) is { } stream)
        {
            try
            {
                IVectorIndex loaded;
                using (stream) loaded = VectorIndexes.Load(stream, rerankDirectory);
                if (fresh.SameConfiguration(loaded))
                {
                    (fresh as IDisposable)?.Dispose();
                    var stale = final.Where(p => !loaded.Holds(p.Id, p.Vector, p.Attributes)).ToList();
                    var removed = loaded.Ids().Where(id => !products.ContainsKey(id)).ToList();
                    loaded.UpsertMany(stale, threads);
                    foreach (var id in removed) loaded.Remove(id);
                    return (loaded, new IndexLoad("snapshot", stale.Count + removed.Count));
                }
                logger.LogWarning("The saved index was built with other settings; rebuilding");
                (loaded as IDisposable)?.Dispose();
            }
            catch (IndexSnapshotException ex)
            {
                logger.LogWarning(ex, "The saved index is unreadable; rebuilding");
            }
        }
        // Built once from the final state, in parallel, instead of replaying every write into it.
        fresh.UpsertMany(final, threads);
        return (fresh, new IndexLoad("built", 0));
    }

    static string? RerankDirectory(ShardSettings settings, LocalShardOptions options) =>
        settings.Index?.RerankVectors == RerankStorage.Mapped ? options.ScratchDirectory : null;

    static IVectorIndex CreateIndex(ShardSettings settings, string? rerankDirectory)
    {
        var metric = FilterMapping.ToDistance(settings.Metric);
        return (settings.Index ?? IndexSpec.Default) switch
        {
            { Kind: IndexKind.Exact } => new ExactIndex(settings.Dimensions, metric),
            var hnsw => new HnswIndex(settings.Dimensions, metric, new HnswOptions(hnsw.M, hnsw.EfConstruction,
                hnsw.EfSearch,
                Quantization: hnsw.Quantization == IndexQuantization.Int8
                    ? VectorQuantization.Int8
                    : VectorQuantization.None, RerankDirectory: rerankDirectory)),
        };
    }

    static IEnumerable<ShardChange> Changes(IEnumerable<LogRecord> records) => records.Select(record =>
    {
        Datapoint? upsert = record.Kind == UpsertKind ? DatapointCodec.Decode(record.Payload.Span) : null;
        return new ShardChange(record.Sequence, upsert?.Id ?? Encoding.UTF8.GetString(record.Payload.Span), upsert);
    });

    /// <summary>The changes after <paramref name="afterSequence"/> through <paramref name="throughSequence"/>, read
    /// from the log; null when the log no longer reaches back that far (sequences are contiguous).</summary>
    public List<ShardChange>? ReadChanges(long afterSequence, long throughSequence)
    {
        var changes = new List<ShardChange>();
        long expected = afterSequence + 1;
        foreach (var change in Changes(reader.ReadLog(afterSequence)))
        {
            if (change.Sequence > throughSequence) break;
            if (change.Sequence != expected) return null;
            changes.Add(change);
            expected++;
        }
        return expected > throughSequence ? changes : null;
    }

    /// <summary>The products as of now (immutable records), without their vectors once the index holds them:
    /// <see cref="WithVectors"/> completes them.</summary>
    public Datapoint[] Products() => points.Values.ToArray();

    /// <summary>The products' ids as of now.</summary>
    public string[] Ids() => points.Keys.ToArray();

    /// <summary>A product with its vector (read from the index), or null.</summary>
    public Datapoint? Get(string id) => points.GetValueOrDefault(id) is { } p ? WithVector(p) : null;

    /// <summary>A product record with its vector: its own, or the index's copy once the record gave it up; null
    /// when the index no longer holds the product (removed since the record was read).</summary>
    public Datapoint? WithVector(Datapoint product) =>
        product.FeatureVector.Length > 0 ? product
        : index.Vector(product.Id) is { } vector ? product with { FeatureVector = vector } : null;

    /// <summary>Records completed with their vectors one at a time, off the writer's turn (snapshots, exports, a
    /// full sync). A product removed meanwhile is left out, and one changed meanwhile may come with its newer
    /// vector: the log after the records' sequence holds both changes, so whoever reads it ends up right.</summary>
    public IEnumerable<Datapoint> WithVectors(IEnumerable<Datapoint> products)
    {
        foreach (var p in products)
            if (WithVector(p) is { } complete) yield return complete;
    }

    static Datapoint WithoutVector(Datapoint p) => p.FeatureVector.Length == 0 ? p : p with { FeatureVector = [] };

    /// <summary>Upserts products; <paramref name="images"/>[i], when given, is kept as product i's original image
    /// (content-addressed: one copy per distinct image in this shard), stored before the log says the product
    /// exists.</summary>
    public async Task UpsertAsync(Datapoint[] datapoints, byte[]?[]? images = null)
    {
        ThrowIfFailed();
        foreach (var p in datapoints)
            if (p.FeatureVector.Length != Settings.Dimensions)
                // An invariant, not a request check (the catalog checks requests): a record the index cannot take
                // must never reach the log, or every replay would fail on it.
                throw new ArgumentException(
                    $"Datapoint '{p.Id}' has {p.FeatureVector.Length} dimensions; the shard has " +
                        $"{Settings.Dimensions}.");
        var toStore = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        for (int i = 0; i < datapoints.Length; i++)
        {
            if (images?[i] is not { } image) continue;
            var hash = Convert.ToHexStringLower(SHA256.HashData(image));
            datapoints[i] = datapoints[i] with { ImageSha256 = hash, ImageBytes = image.Length };
            toStore.TryAdd(hash, image);
        }
        // Referenced at once, in this turn: a removal applied meanwhile cannot delete an image this write needs.
        foreach (var p in datapoints) Retain(p.ImageSha256);
        try
        {
            foreach (var (hash, image) in toStore) await StoreImageAsync(hash, image);
        }
        catch (Exception ex)
        {
            failure ??= ex; // references were taken for writes that will never be applied
            throw;
        }
        var records = new LogRecord[datapoints.Length];
        long last = 0;
        for (int i = 0; i < datapoints.Length; i++)
        {
            last = ++assigned;
            records[i] = new LogRecord(last, UpsertKind, DatapointCodec.Encode(datapoints[i]));
            durableNotApplied.Enqueue((last, datapoints[i].Id, datapoints[i], null));
        }
        await AppendAsync(records);
        await ApplyDurableThrough(last);
        GiveUpVectors(datapoints);
    }

    /// <summary>The index holds these products' vectors now: records still current give theirs up (a newer write
    /// keeps its own).</summary>
    void GiveUpVectors(IEnumerable<Datapoint> indexed)
    {
        foreach (var p in indexed)
            if (points.TryGetValue(p.Id, out var current) && ReferenceEquals(current, p)) points[p.Id] =
                WithoutVector(p);
    }

    public async Task<bool> RemoveAsync(string id)
    {
        ThrowIfFailed();
        // Always logged, even when absent now: an upsert of the same id may be in flight ahead of it.
        var sequence = ++assigned;
        var removed = new TaskCompletionSource<bool>();
        durableNotApplied.Enqueue((sequence, id, null, removed));
        await AppendAsync([new LogRecord(sequence, DeleteKind, Encoding.UTF8.GetBytes(id))]);
        await ApplyDurableThrough(sequence);
        return await removed.Task;
    }

    /// <summary>A replica applies what the lease holder logged since its last call. False when the log no longer
    /// reaches back to this replica's position (a snapshot covered the records and they were deleted): open the
    /// replica again. Calls must not overlap.</summary>
    public async Task<bool> CatchUpAsync(CancellationToken cancellationToken)
    {
        if (writer is not null) throw new InvalidOperationException("A primary is always up to date.");
        long from = applied;
        var reading = DateTime.UtcNow; // everything committed before now is read
        var changes = await Task.Run(() => Changes(reader.ReadLog(from)).ToList(), cancellationToken);
        if (changes.Count == 0)
        {
            // Nothing new, or everything after this replica's position is gone into a snapshot already.
            if (await Task.Run(reader.LogFloor, cancellationToken) > from) return false;
            CaughtUpAt = reading;
            return true;
        }
        for (int i = 0; i < changes.Count; i++)
            if (changes[i].Sequence != from + 1 + i) return false;
        foreach (var change in changes)
        {
            if (change.Upsert is { } p) Retain(p.ImageSha256);
            durableNotApplied.Enqueue((change.Sequence, change.Id, change.Upsert, null));
        }
        assigned = changes[^1].Sequence;
        await ApplyDurableThrough(assigned);
        GiveUpVectors(changes.Select(c => c.Upsert).OfType<Datapoint>());
        ShardMetrics.CaughtUp(this, DateTime.UtcNow - reading);
        CaughtUpAt = reading;
        return true;
    }

    /// <summary>Makes this replica the shard's primary, in place (no snapshot to load, no index to build): takes the
    /// lease first — from then on the old primary's writes are refused, and those it committed before are in the
    /// log — then applies the rest of the log. False (and still a replica) when the log no longer reaches back to
    /// this replica: open the primary from the store instead.</summary>
    public async Task<bool> PromoteAsync(IShardStore store, CancellationToken cancellationToken)
    {
        if (writer is not null) throw new InvalidOperationException("The shard is a primary already.");
        var lease = await store.OpenWriterAsync(cancellationToken);
        try
        {
            if (!await CatchUpAsync(cancellationToken) || lease.LastSequence != applied)
            {
                await lease.DisposeAsync();
                return false;
            }
        }
        catch
        {
            await lease.DisposeAsync();
            throw;
        }
        (writer, reader) = (lease, lease);
        assigned = applied;
        sinceSnapshot = applied - SnapshotSequence;
        indexSavedSequence = -1; // the saved graph predates what this replica applied since
        indexSavedCount = 0;
        IndexOrigin = "promoted";
        Tags = TagsFor(options.Name, replica: false);
        ShardMetrics.LeaseTaken(options.Name);
        return true;
    }

    /// <summary>A failed append leaves this instance unusable: sequences were handed out that may never be
    /// written.</summary>
    async Task AppendAsync(IReadOnlyList<LogRecord> records)
    {
        try
        {
            await Store.AppendAsync(records);
        }
        catch (Exception ex)
        {
            failure ??= ex;
            throw;
        }
    }

    void ThrowIfFailed()
    {
        if (writer is null) throw new InvalidOperationException("A read replica does not write.");
        if (failure is not null)
            throw new IOException("The shard's store refused a write; the shard must be opened again.", failure);
    }

    /// <summary>The log is sequential, so once record <paramref name="sequence"/> is durable every earlier one is too:
    /// apply them all, in order, whichever caller's continuation gets here first. The product map changes now; the
    /// index changes on the thread pool (HNSW inserts cost milliseconds), chained after the previous batch.</summary>
    Task ApplyDurableThrough(long sequence)
    {
        var changes = new List<(string Id, Datapoint? Upsert)>();
        while (durableNotApplied.TryPeek(out var next) && next.Sequence <= sequence)
        {
            durableNotApplied.Dequeue();
            var previous = points.GetValueOrDefault(next.Id);
            if (next.Upsert is { } p) points[p.Id] = p;
            else
            {
                bool removed = points.Remove(next.Id);
                next.Removed?.TrySetResult(removed);
            }
            facets.Remove(previous);
            if (next.Upsert is { } added) facets.Add(added);
            IndexText(next.Id, next.Upsert, previous);
            StoredBytes += BytesOf(next.Upsert) - BytesOf(previous);
            WithoutImage += (next.Upsert is { ImageSha256: null } ? 1 : 0)
                - (previous is { ImageSha256: null } ? 1 : 0);
            Release(previous?.ImageSha256);
            Changed?.Invoke(new ShardChange(next.Sequence, next.Id, next.Upsert));
            changes.Add((next.Id, next.Upsert));
            applied = next.Sequence;
            sinceSnapshot++;
        }
        if (writer is not null) MaybeSnapshot();
        if (changes.Count == 0) return indexing;
        var idx = index;
        return indexing = indexing.ContinueWith(_ =>
        {
            // Writes to different ids commute: a batch without repeated ids is inserted on all cores.
            if (changes.Count > 1 && changes.Select(c => c.Id).Distinct().Count() == changes.Count)
            {
                idx.UpsertMany(changes.Where(c => c.Upsert is not null)
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
        if (!snapshotTask.IsCompleted || sinceSnapshot < options.SnapshotEveryRecords) return;
        snapshotTask = WriteSnapshotAsync();
    }

    async Task WriteSnapshotAsync()
    {
        // The state as of `applied`, captured now: datapoints are immutable, so the references suffice.
        long sequence = applied;
        var items = points.Values.ToArray();
        sinceSnapshot = 0;
        try
        {
            await Store.RollLogAsync();
            await Task.Run(() => Store.WriteSnapshotAsync(sequence, WithVectors(items).Select(p =>
                (ReadOnlyMemory<byte>)DatapointCodec.Encode(p))));
            long previous = SnapshotSequence;
            SnapshotSequence = sequence;
            // Records not yet in Matching Engine stay in the log (it is the outbox), and so does everything after the
            // last export (the next delta export reads it). So does everything after the previous snapshot: a replica
            // that lags by less than a snapshot's worth of records (a big ingest) catches up instead of loading again.
            long keepAfter = Math.Min(Math.Min(previous, KeepLogAfter()), ExportMark ?? long.MaxValue);
            int deleted = await Store.DeleteLogThroughAsync(keepAfter);
            // Also when the shard has doubled since the graph was saved (or none was): a copy opening now (a replica, a
            // failover) reconciles at most half the index instead of building all of it, and the saves of a growing
            // shard add up to twice its final size.
            if (DateTime.UtcNow - indexSavedAt >= options.IndexSnapshotMinInterval
                || items.Length >= 2 * indexSavedCount)
                await SaveIndexAsync();
            logger.LogDebug("Snapshot at {Sequence}: {Count} products, {Deleted} log segments deleted", sequence,
                items.Length, deleted);
        }
        catch (Exception ex)
        {
            // The log still holds everything; the next threshold retries.
            logger.LogError(ex, "Snapshot at {Sequence} failed", sequence);
        }
    }

    /// <summary>Writes a product snapshot of the state as of now (after any under way), and truncates the log it
    /// covers as the thresholds would (before a planned move, or to measure).</summary>
    public async Task SnapshotAsync()
    {
        await snapshotTask;
        await (snapshotTask = WriteSnapshotAsync());
    }

    /// <summary>Saves the index (its exact sequence does not matter: a load reconciles it against the
    /// products).</summary>
    public async Task SaveIndexAsync()
    {
        if (applied == indexSavedSequence) return;
        long sequence = applied;
        int count = points.Count;
        try
        {
            await indexing.ContinueWith(_ => { }, TaskScheduler.Default);
            await Task.Run(SaveIndexThroughScratchAsync);
            (indexSavedSequence, indexSavedCount, indexSavedAt) = (sequence, count, DateTime.UtcNow);
        }
        catch (Exception ex)
        {
            // Only start-up time is at stake: without a saved graph the next opening rebuilds the index.
            logger.LogWarning(ex, "Saving the index failed");
        }
    }

    /// <summary>The index serializes under its own lock, which holds back index updates (and so writes): it writes
    /// to a local scratch file at disk speed, and the store (PostgreSQL: seconds for a big shard) copies from there
    /// with the lock released.</summary>
    async Task SaveIndexThroughScratchAsync()
    {
        var directory = options.ScratchDirectory ?? Path.GetTempPath();
        Directory.CreateDirectory(directory);
        await using var scratch = new FileStream(Path.Combine(directory, $"index-{Guid.NewGuid():N}.tmp"),
            FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 20, FileOptions.DeleteOnClose);
        index.Save(scratch);
        scratch.Position = 0;
        await Store.WriteBlobAsync(IndexBlobName, scratch.CopyTo);
    }

    /// <summary>Keeps the text index up to date with a product's change (null: removed).</summary>
    void IndexText(string id, Datapoint? now, Datapoint? before)
    {
        if (now is not null && ProductText.Of(now) is { } words)
            text.Upsert(id, words, FilterMapping.ToAttributes(now));
        else if (before is not null) text.Remove(id);
    }

    /// <summary>The products best matching a query's text by BM25 (distance: minus the score), filtered, crowded
    /// and without the query's own products; scored on the thread pool.</summary>
    async Task<SearchHit[]> SearchTextAsync(SearchQuery query, CancellationToken cancellationToken)
    {
        var filter = FilterMapping.ToFilter(query);
        var found = await Task.Run(() =>
        {
            var ranked = text.Search(query.Text!, query.PerCrowdingAttributeNeighborCount is null
                ? query.NeighborCount : int.MaxValue, (id, attributes) => !query.Excludes(id)
                    && filter.Matches(attributes));
            if (query.PerCrowdingAttributeNeighborCount is null) return ranked;
            // Crowding as every index does it; the BM25 rank is the order the collector keeps.
            var collector = new ResultCollector(query.NeighborCount, query.PerCrowdingAttributeNeighborCount);
            for (int r = 0; r < ranked.Count; r++) collector.Add(ranked[r].Id, r, ranked[r].Payload.CrowdingAttribute);
            return collector.ToList().Select(n => ranked[(int)n.Distance]).ToList();
        }, cancellationToken);
        var hits = new List<SearchHit>(found.Count);
        foreach (var (id, score, _) in found)
            if (points.TryGetValue(id, out var p) && (query.ReturnVectors ? WithVector(p) : p) is { } hit)
                hits.Add(new SearchHit(id, (float)-score, hit));
        return hits.ToArray();
    }

    public async Task<SearchHit[]> SearchAsync(SearchQuery query, CancellationToken cancellationToken)
    {
        if (query.Text is not null && query.Vector.Length == 0) return await SearchTextAsync(query, cancellationToken);
        if (query.Vector.Length != Settings.Dimensions)
            throw new ArgumentException(
                $"The query vector has {query.Vector.Length} dimensions; the shard has {Settings.Dimensions}.");
        var searchOptions = new SearchOptions(query.NeighborCount, FilterMapping.ToFilter(query),
            query.PerCrowdingAttributeNeighborCount, query.ExcludeId, query.Ef,
            query.ExcludeIds is { Length: > 0 } more ? more.ToHashSet(StringComparer.Ordinal) : null);
        var idx = index;
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        var neighbors = await Task.Run(() => idx.Search(query.Vector, searchOptions), cancellationToken);
        ShardMetrics.Searched(this, System.Diagnostics.Stopwatch.GetElapsedTime(started));
        var hits = new List<SearchHit>(neighbors.Count);
        foreach (var n in neighbors)
            if (points.TryGetValue(n.Id, out var p) && (query.ReturnVectors ? WithVector(p) : p) is { } hit)
                hits.Add(new SearchHit(n.Id, n.Distance, hit));
        return hits.ToArray();
    }

    static string ImageBlob(string hash) => $"images/{hash[..2]}/{hash}";

    static string ThumbnailBlob(string hash, int size) => $"thumbnails/{size}/{hash[..2]}/{hash}.jpg";

    void Retain(string? hash)
    {
        if (hash is not null) imageReferences[hash] = imageReferences.GetValueOrDefault(hash) + 1;
    }

    /// <summary>Drops a reference; the image (and its thumbnails) goes once no product references it.</summary>
    void Release(string? hash)
    {
        if (hash is null || !imageReferences.TryGetValue(hash, out var count)) return;
        if (count > 1)
        {
            imageReferences[hash] = count - 1;
            return;
        }
        imageReferences.Remove(hash);
        if (writer is null) return; // the primary deletes what no product references
        var deletion = DeleteImageAsync(hash);
        imageDeletions[hash] = deletion;
        // Forgotten once done (unless a newer deletion of the same image took its place), so the map stays small.
        deletion.ContinueWith(_ => imageDeletions.TryRemove(KeyValuePair.Create(hash, deletion)),
            TaskScheduler.Default);
    }

    async Task DeleteImageAsync(string hash)
    {
        try
        {
            await Store.DeleteBlobAsync(ImageBlob(hash));
            foreach (var size in ProductImage.ThumbnailSizes) await Store.DeleteBlobAsync(ThumbnailBlob(hash, size));
        }
        catch (Exception ex)
        {
            logger.LogWarning(ex, "Deleting image {Hash} failed; it stays as an orphan", hash);
        }
    }

    async Task StoreImageAsync(string hash, byte[] image)
    {
        // A deletion of the same image still under way finishes first, so it cannot remove the copy written now.
        if (imageDeletions.TryRemove(hash, out var deletion)) await deletion;
        using (var existing = reader.OpenBlob(ImageBlob(hash))) if (existing is not null) return;
        await Store.WriteBlobAsync(ImageBlob(hash), s => s.Write(image));
    }

    /// <summary>A product's original image, or a thumbnail (made once, then kept); null when either is
    /// missing.</summary>
    public async Task<ProductImage?> GetImageAsync(string id, int? size, CancellationToken cancellationToken)
    {
        if (points.GetValueOrDefault(id)?.ImageSha256 is not { } hash) return null;
        if (size is { } side && !ProductImage.ThumbnailSizes.Contains(side))
            throw new ArgumentOutOfRangeException(nameof(size), side, "Not one of ProductImage.ThumbnailSizes.");
        return await Task.Run(async () =>
        {
            if (size is null)
            {
                var original = ReadBlob(ImageBlob(hash));
                if (original is null) return null;
                var format = ImageInspector.Sniff(original);
                return new ProductImage(original,
                    format is { } f ? ImageThumbnails.MediaType(f) : "application/octet-stream", hash);
            }
            var name = ThumbnailBlob(hash, size.Value);
            var thumbnail = ReadBlob(name);
            if (thumbnail is null)
            {
                var source = ReadBlob(ImageBlob(hash));
                if (source is null) return null;
                thumbnail = ImageThumbnails.Create(source, size.Value);
                try
                {
                    // A replica serves it without keeping it: the primary keeps its own when asked.
                    if (writer is not null) await writer.WriteBlobAsync(name, s => s.Write(thumbnail));
                }
                catch (IOException ex)
                {
                    logger.LogDebug(ex, "Thumbnail {Name} not kept", name); // served all the same
                }
            }
            return new ProductImage(thumbnail, "image/jpeg", $"{hash}-{size}");
        }, cancellationToken);
    }

    byte[]? ReadBlob(string name)
    {
        using var stream = reader.OpenBlob(name);
        if (stream is null) return null;
        var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }

    /// <summary>Records that Matching Engine holds this shard's state as of <paramref name="sequence"/>.</summary>
    public async Task CommitExportAsync(long sequence)
    {
        await Store.WriteMetadataAsync(ExportMarkName, JsonSerializer.SerializeToUtf8Bytes(sequence));
        ExportMark = sequence;
    }

    /// <summary>Deletes the shard's state; the instance is closed afterwards.</summary>
    public async Task DestroyAsync()
    {
        await snapshotTask;
        await indexing.ContinueWith(_ => { }, TaskScheduler.Default);
        points.Clear();
        facets.Clear();
        await Store.DestroyAsync();
        ShardMetrics.Closed(this);
        (index as IDisposable)?.Dispose();
    }

    /// <summary>Waits for background work, saves the graph (the next opening loads it instead of rebuilding: for
    /// 100k × 1280, seconds instead of a minute), and releases the store.</summary>
    public async ValueTask DisposeAsync()
    {
        await snapshotTask;
        await indexing.ContinueWith(_ => { }, TaskScheduler.Default);
        ShardMetrics.Closed(this);
        if (writer is not null)
        {
            if (failure is null) await SaveIndexAsync();
            await writer.DisposeAsync();
        }
        (index as IDisposable)?.Dispose();
    }
}
