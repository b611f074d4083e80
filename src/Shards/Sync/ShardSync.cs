using System.Text.Json;
using Catalogs.Grains;
using Catalogs.Shards.Storage;
using Catalogs.VertexAI;
using Microsoft.Extensions.Logging;

namespace Catalogs.Shards.Sync;

/// <summary>
/// A shard's outbox to a Matching Engine index. Its durability is the shard's write-ahead log: the outbox only
/// remembers the cursor, the last log sequence in effect in Matching Engine, in <c>sync.json</c>; every record after
/// it is sent again after a restart (upserts and removals are idempotent), and the log is kept from the cursor on.
/// Batches coalesce repeated writes to one id to the last one, so per id the order holds (an upsert followed by a
/// delete is sent as the delete). A request Matching Engine rejects is split until the rejected datapoint is alone;
/// that one goes to the dead letters, the rest goes through. Throttling, outages and timeouts are retried with
/// exponential backoff and jitter, without end: nothing acknowledged is dropped.
/// Not thread-safe: the shard grain calls it from its turns only.
/// </summary>
public sealed class ShardSync
{
    /// <summary>A change to send. <c>Full</c>: part of sending everything (a new binding): the cursor moves past those
    /// only once all of them are in, or a restart in between would skip the rest.</summary>
    sealed record Pending(long Sequence, string Id, Datapoint? Upsert, DateTime Enqueued, bool Full = false);

    sealed record State(string Index, long Cursor, List<DeadLetter> DeadLetters);

    const int MaxDeadLetters = 1_000, QuickRetries = 4;

    // Metrics (meter "Catalogs.Sync"), tagged with the index: what is waiting, what went through, what failed.
    static readonly System.Diagnostics.Metrics.Meter Meter = new("Catalogs.Sync");
    static readonly System.Diagnostics.Metrics.UpDownCounter<long> BacklogMetric =
        Meter.CreateUpDownCounter<long>("catalogs.sync.backlog", "{change}",
        "Changes waiting to reach Matching Engine");
    static readonly System.Diagnostics.Metrics.Counter<long> SentMetric =
        Meter.CreateCounter<long>("catalogs.sync.sent", "{change}", "Changes in effect in Matching Engine");
    static readonly System.Diagnostics.Metrics.Counter<long> FailureMetric =
        Meter.CreateCounter<long>("catalogs.sync.failures", "{request}", "Failed sync attempts (retried)");
    static readonly System.Diagnostics.Metrics.Counter<long> DeadLetterMetric =
        Meter.CreateCounter<long>("catalogs.sync.dead_letters", "{change}", "Changes Matching Engine rejected");
    static readonly System.Diagnostics.Metrics.Histogram<double> LagMetric =
        Meter.CreateHistogram<double>("catalogs.sync.lag", "s", "Time from acknowledgement to Matching Engine");
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>The shard metadata document that holds the outbox's state.</summary>
    public const string MetadataName = "sync.json";

    readonly IShardWriter store;
    readonly MatchingEngineClient client;
    readonly SyncOptions options;
    readonly ILogger logger;
    readonly LinkedList<Pending> queue = new();
    readonly List<DeadLetter> deadLetters;
    /// <summary>(id, sequence) of every dead letter: a change rejected once is never sent again.</summary>
    readonly HashSet<(string, long)> deadKeys;
    long sent, fullThrough = -1;
    int failures, fullRemaining;
    DateTime retryAt = DateTime.MinValue;
    bool running;
    string? lastError;
    // Products are queued as the shard holds them (without vectors, once indexed): completed when sent.
    Func<Datapoint, Datapoint?> complete = p => p;
    int dimensions;

    ShardSync(IShardWriter store, string index, long cursor, List<DeadLetter> deadLetters, MatchingEngineClient client,
        SyncOptions options, ILogger logger)
    {
        this.store = store;
        Index = index;
        Cursor = cursor;
        this.deadLetters = deadLetters;
        deadKeys = deadLetters.Select(d => (d.Id, d.Sequence)).ToHashSet();
        this.client = client;
        this.options = options;
        this.logger = logger;
    }

    public string Index { get; }

    /// <summary>The last log sequence in effect in Matching Engine; −1: nothing sent yet (everything must
    /// go).</summary>
    public long Cursor { get; private set; }

    public bool NeedsFullSync => Cursor < 0;

    public int Backlog => queue.Count;

    public IReadOnlyList<DeadLetter> DeadLetters => deadLetters;

    /// <summary>The outbox of <paramref name="index"/>: its saved cursor when the saved binding is to the same index,
    /// else a fresh start that sends everything.</summary>
    public static ShardSync Open(IShardWriter store, string index, MatchingEngineClient client, SyncOptions options,
        ILogger logger) =>
        Load(store, client, options, logger) is { } saved && saved.Index == index
            ? saved
            : new ShardSync(store, index, -1, [], client, options, logger);

    /// <summary>The outbox as saved (its index, cursor and dead letters); null when the shard is not bound.</summary>
    public static ShardSync? Load(IShardWriter store, MatchingEngineClient client, SyncOptions options,
        ILogger logger) =>
        store.ReadMetadata(MetadataName) is { } bytes && JsonSerializer.Deserialize<State>(bytes, Json) is { } saved
            ? new ShardSync(store, saved.Index, saved.Cursor, saved.DeadLetters ?? [], client, options, logger)
            : null;

    public static Task UnbindAsync(IShardWriter store) => store.DeleteMetadataAsync(MetadataName);

    /// <summary>Connects this outbox to <paramref name="shard"/>'s change feed and log retention. A new binding
    /// (<paramref name="resume"/> false) gets everything the shard holds now; on opening, the outbox resends what
    /// came after its cursor, or everything when nothing was sent yet or the log no longer reaches back that
    /// far.</summary>
    public void Attach(LocalShard shard, bool resume)
    {
        complete = shard.WithVector;
        dimensions = shard.Settings.Dimensions;
        if (!resume) EnqueueAll(shard.Products(), shard.LastSequence);
        else if (NeedsFullSync || shard.ReadChanges(Cursor, shard.LastSequence) is not { } pending)
        {
            if (!NeedsFullSync)
                logger.LogWarning("The log no longer reaches back to the sync cursor {Cursor}; sending everything " +
                    "again", Cursor);
            Restart();
            EnqueueAll(shard.Products(), shard.LastSequence);
        }
        else foreach (var change in pending) Enqueue(change.Sequence, change.Id, change.Upsert);
        shard.Changed = change => Enqueue(change.Sequence, change.Id, change.Upsert);
        shard.KeepLogAfter = () => Cursor;
    }

    /// <summary>Disconnects <paramref name="shard"/> from any outbox.</summary>
    public static void Detach(LocalShard shard)
    {
        shard.Changed = null;
        shard.KeepLogAfter = () => long.MaxValue;
    }

    /// <summary>Forgets the cursor and the backlog: everything is to be sent again (the log no longer reaches
    /// back).</summary>
    public void Restart()
    {
        Cursor = -1;
        BacklogMetric.Add(-queue.Count, Tag);
        queue.Clear();
        fullRemaining = 0;
    }

    /// <summary>A durable change, in log order. Changes at or before the cursor are already in effect.</summary>
    public void Enqueue(long sequence, string id, Datapoint? upsert)
    {
        if (sequence <= Cursor) return;
        queue.AddLast(new Pending(sequence, id, upsert, DateTime.UtcNow));
        BacklogMetric.Add(1, Tag);
    }

    KeyValuePair<string, object?> Tag => new("index", Index);

    /// <summary>Everything the shard holds as of <paramref name="sequence"/>, for a new binding; later changes follow
    /// through <see cref="Enqueue"/>.</summary>
    public void EnqueueAll(IEnumerable<Datapoint> products, long sequence)
    {
        var now = DateTime.UtcNow;
        var first = queue.First;
        fullThrough = Math.Max(fullThrough, sequence);
        foreach (var p in products)
        {
            fullRemaining++;
            var item = new Pending(sequence, p.Id, p, now, Full: true);
            if (first is null) queue.AddLast(item);
            else queue.AddBefore(first, item);
            BacklogMetric.Add(1, Tag);
        }
    }

    public SyncStats Stats() => new(Index, Cursor, queue.Count, queue.First is { } oldest
        ? (DateTime.UtcNow - oldest.Value.Enqueued).TotalSeconds : 0,
        deadLetters.Count, sent, lastError);

    /// <summary>Sends batches until the backlog is empty or a request fails (then waits out a backoff). Called
    /// periodically by the shard; overlapping calls return at once.</summary>
    public async Task PumpAsync(CancellationToken cancellationToken)
    {
        if (running || queue.Count == 0 || DateTime.UtcNow < retryAt) return;
        running = true;
        try
        {
            while (queue.Count > 0 && !cancellationToken.IsCancellationRequested)
            {
                var batch = TakeBatch();
                await SendAsync(batch, cancellationToken);
                for (int i = 0; i < batch.Count; i++) queue.RemoveFirst();
                sent += batch.Count;
                BacklogMetric.Add(-batch.Count, Tag);
                SentMetric.Add(batch.Count, Tag);
                LagMetric.Record((DateTime.UtcNow - batch[0].Enqueued).TotalSeconds, Tag);
                fullRemaining -= batch.Count(p => p.Full);
                foreach (var p in batch) if (!p.Full) Cursor = Math.Max(Cursor, p.Sequence);
                if (fullRemaining == 0) Cursor = Math.Max(Cursor, fullThrough);
                await SaveAsync();
                failures = 0;
                lastError = null;
            }
        }
        catch (Exception ex) when (IsTransient(ex) && !cancellationToken.IsCancellationRequested)
        {
            failures++;
            lastError = ex.Message;
            FailureMetric.Add(1, Tag);
            double backoff = Math.Min(options.MaxBackoff.TotalMilliseconds,
                options.MinBackoff.TotalMilliseconds * Math.Pow(2, failures - 1));
            retryAt = DateTime.UtcNow.AddMilliseconds(backoff * (0.5 + Random.Shared.NextDouble()));
            logger.LogDebug("Sync to {Index} failed ({Failures} in a row), next try in {Backoff:F0} ms: {Error}", Index,
                failures, backoff, ex.Message);
        }
        finally { running = false; }
    }

    static bool IsTransient(Exception ex) => GoogleApiException.IsTransientFailure(ex);

    /// <summary>The oldest changes, bounded by count and by estimated request size.</summary>
    List<Pending> TakeBatch()
    {
        var batch = new List<Pending>();
        long bytes = 0;
        foreach (var item in queue)
        {
            long size = 64 + item.Id.Length + (item.Upsert is { } p
                ? 12L * dimensions + 64L * (p.Restricts.Length + p.NumericRestricts.Length)
                : 0);
            if (batch.Count > 0 && (batch.Count >= options.MaxBatch || bytes + size > options.MaxRequestBytes)) break;
            batch.Add(item);
            bytes += size;
        }
        return batch;
    }

    async Task SendAsync(List<Pending> batch, CancellationToken cancellationToken)
    {
        // Per id only the last change counts; ids are distinct afterwards, so removals and upserts commute.
        var last = new Dictionary<string, Pending>(StringComparer.Ordinal);
        foreach (var item in batch) last[item.Id] = item;
        var live = last.Values.Where(p => !deadKeys.Contains((p.Id, p.Sequence))).ToList();
        var removals = live.Where(p => p.Upsert is null).ToList();
        // A product removed since it was queued has no vector left to send: its removal is queued after it.
        var upserts = live.Where(p => p.Upsert is not null).Select(p => p with { Upsert = complete(p.Upsert!) })
            .Where(p => p.Upsert is not null).ToList();
        if (removals.Count > 0) await SendOrSplitAsync(removals, cancellationToken);
        if (upserts.Count > 0) await SendOrSplitAsync(upserts, cancellationToken);
    }

    async Task SendOrSplitAsync(List<Pending> items, CancellationToken cancellationToken)
    {
        try
        {
            // A few quick retries in place: isolating a rejected datapoint takes a dozen requests, and one transient
            // failure among them must not restart the whole search.
            for (int attempt = 1; ; attempt++)
            {
                try
                {
                    if (items[0].Upsert is null)
                        await client.RemoveDatapointsAsync(Index, items.Select(i => i.Id).ToArray(), cancellationToken);
                    else await client.UpsertDatapointsAsync(Index, items.Select(i =>
                        ToIndexDatapoint(i.Upsert!)).ToArray(), cancellationToken);
                    return;
                }
                catch (Exception ex) when (attempt < QuickRetries && IsTransient(ex)
                    && !cancellationToken.IsCancellationRequested)
                {
                    await Task.Delay(options.MinBackoff * attempt * (0.5 + Random.Shared.NextDouble()),
                        cancellationToken);
                }
            }
        }
        catch (GoogleApiException ex) when (!ex.IsTransient)
        {
            if (items.Count == 1)
            {
                DeadLetter(items[0], ex);
                return;
            }
            // Which one was rejected? Halve until it stands alone; the others go through.
            await SendOrSplitAsync(items[..(items.Count / 2)], cancellationToken);
            await SendOrSplitAsync(items[(items.Count / 2)..], cancellationToken);
        }
    }

    void DeadLetter(Pending item, GoogleApiException error)
    {
        if (!deadKeys.Add((item.Id, item.Sequence))) return;
        DeadLetterMetric.Add(1, Tag);
        logger.LogWarning("Matching Engine rejected {Operation} of {Id} (sequence {Sequence}): {Error}",
            item.Upsert is null ? "removal" : "upsert", item.Id, item.Sequence, error.Message);
        deadLetters.Add(new DeadLetter(item.Id, item.Sequence, item.Upsert is null ? "remove" : "upsert",
            $"{error.Status}: {error.ApiMessage}", DateTimeOffset.UtcNow));
        if (deadLetters.Count > MaxDeadLetters) deadLetters.RemoveAt(0);
    }

    /// <summary>A product as Matching Engine stores it: its vector, restricts (its colour among them), crowding tag
    /// and, when it has text, the text's sparse embedding (hybrid queries).</summary>
    public static IndexDatapoint ToIndexDatapoint(Datapoint p) => new(
        p.Id, p.FeatureVector,
        FilterMapping.ToVertex(p.FilterRestricts), FilterMapping.ToVertex(p.NumericRestricts, query: false),
        p.CrowdingTag is null ? null : new CrowdingTag(p.CrowdingTag),
        ProductText.SparseEmbedding(p) is { } sparse ? ToVertex(sparse) : null);

    /// <summary>A sparse embedding as Vertex AI takes it.</summary>
    public static VertexAI.SparseEmbedding ToVertex(Text.SparseEmbedding e) => new(e.Values, e.Dimensions);

    /// <summary>Writes the cursor and dead letters durably, off the caller's thread.</summary>
    public Task SaveAsync()
    {
        // captured in the turn
        var bytes = JsonSerializer.SerializeToUtf8Bytes(new State(Index, Cursor, deadLetters), Json);
        return Task.Run(() => store.WriteMetadataAsync(MetadataName, bytes));
    }
}
