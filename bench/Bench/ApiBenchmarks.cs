using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Catalogs.Bench;

/// <summary>Latency through the real HTTP API of an ApiHost process (embedded silo, fsynced log).</summary>
static class ApiBenchmarks
{
    static float[] RandomVector(Random rng, int dims)
    {
        var v = new float[dims];
        for (int i = 0; i < dims; i++) v[i] = (float)(rng.NextDouble() * 2 - 1);
        return v;
    }

    static async Task CreateCatalog(HttpClient http, string name, int dims, int shards, object? index = null)
    {
        var r = await http.PutAsJsonAsync($"/v1/catalogs/{name}", index is null
            ? new { dimensions = dims, metric = "cosine", shards }
            : (object)new { dimensions = dims, metric = "cosine", shards, index });
        if (!r.IsSuccessStatusCode) throw new InvalidOperationException(await r.Content.ReadAsStringAsync());
    }

    /// <summary>Open-loop upserts at a steady rate: each latency runs from the request's scheduled time to its
    /// acknowledgement, and an acknowledged upsert is durable and searchable by contract (checked on a sample).
    /// With read replicas (a cluster's API host as <paramref name="http"/>), how far they lag is sampled
    /// meanwhile.</summary>
    public static async Task UpsertAsync(HttpClient http, int rate, int seconds, int dims, int shards)
    {
        await CreateCatalog(http, "upserts", dims, shards);
        using var stop = new CancellationTokenSource();
        var lag = Task.Run(() => SampleReplicaLagAsync(http, "upserts", stop.Token));
        var rng = new Random(1);
        int total = rate * seconds;
        var vectors = Enumerable.Range(0, total).Select(_ => RandomVector(rng, dims)).ToArray();
        var latencies = new double[total];
        var start = Stopwatch.GetTimestamp();
        var tasks = new List<Task>(total);
        for (int i = 0; i < total; i++)
        {
            long due = start + (long)(i * (double)Stopwatch.Frequency / rate);
            var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
            if (wait > TimeSpan.Zero) await Task.Delay(wait);
            int n = i;
            tasks.Add(Task.Run(async () =>
            {
                var r = await http.PutAsJsonAsync($"/v1/catalogs/upserts/products/p{n}",
                    new { featureVector = vectors[n] });
                r.EnsureSuccessStatusCode();
                latencies[n] = Stopwatch.GetElapsedTime(due).TotalMilliseconds;
            }));
        }
        await Task.WhenAll(tasks);
        double wall = Stopwatch.GetElapsedTime(start).TotalSeconds;
        await stop.CancelAsync();
        var (records, staleness) = await lag;
        // Every acknowledged upsert must be found at once: sample some and search for them.
        int found = 0;
        foreach (var n in Enumerable.Range(0, 50).Select(i => i * (total / 50)))
        {
            var r = await http.PostAsJsonAsync("/v1/catalogs/upserts/search",
                new { featureVector = vectors[n], neighborCount = 1, consistency = "strong" });
            var body = await r.Content.ReadFromJsonAsync<JsonObject>();
            if (body!["neighbors"]![0]!["id"]!.GetValue<string>() == $"p{n}") found++;
        }
        Console.WriteLine($"Upsert → acknowledged (durable + searchable): {total} upserts of {dims}-d vectors at " +
            $"{rate}/s for {seconds} s " +
            $"({total / wall:F0}/s achieved, {shards} shards): {Stats.Latencies([.. latencies])}; {found}/50 sampled " +
                $"found by search right after" + (staleness.Count == 0 ? "" : $"; replica lag: at most " +
                $"{records.Max()} records behind (median {records.Order().ElementAt(records.Count / 2)}), staleness " +
                $"median {staleness.Order().ElementAt(staleness.Count / 2) * 1000:F0} ms, max " +
                $"{staleness.Max() * 1000:F0} ms ({staleness.Count} samples)"));
    }

    /// <summary>Every 200 ms until stopped: how many records each loaded replica is behind its primary, and its
    /// staleness, from the catalog's stats.</summary>
    static async Task<(List<long> Records, List<double> Staleness)> SampleReplicaLagAsync(HttpClient http,
        string catalog, CancellationToken stop)
    {
        var (records, staleness) = (new List<long>(), new List<double>());
        while (!stop.IsCancellationRequested)
        {
            var stats = await http.GetFromJsonAsync<JsonObject>($"/v1/catalogs/{catalog}", CancellationToken.None);
            foreach (var shard in stats!["shards"]!.AsArray())
                foreach (var replica in shard!["replicas"]?.AsArray() ?? [])
                    if (replica!["loaded"]!.GetValue<bool>())
                    {
                        records.Add(shard["lastSequence"]!.GetValue<long>()
                            - replica["lastSequence"]!.GetValue<long>());
                        staleness.Add(replica["stalenessSeconds"]!.GetValue<double>());
                    }
            try { await Task.Delay(200, stop); } catch (OperationCanceledException) { }
        }
        return (records, staleness);
    }

    /// <summary>Loads <paramref name="data"/> as products p0, p1, … through the batch endpoint, 1,000 per request,
    /// two requests at a time.</summary>
    internal static async Task LoadAsync(HttpClient http, string catalog, float[][] data)
    {
        const int batch = 1000;
        using var gate = new SemaphoreSlim(2);
        var tasks = new List<Task>();
        for (int start = 0; start < data.Length; start += batch)
        {
            var items = Enumerable.Range(start, Math.Min(batch, data.Length - start)).Select(i =>
                new { id = $"p{i}", featureVector = data[i] }).ToArray();
            await gate.WaitAsync();
            tasks.Add(Task.Run(async () =>
            {
                try
                {
                    var r = await http.PostAsJsonAsync($"/v1/catalogs/{catalog}/products:batch",
                        new { datapoints = items });
                    if (!r.IsSuccessStatusCode)
                        throw new InvalidOperationException(await r.Content.ReadAsStringAsync());
                }
                finally { gate.Release(); }
            }));
        }
        await Task.WhenAll(tasks);
    }

    /// <summary>Loads <paramref name="points"/> vectors through the batch endpoint, then searches by vector
    /// closed-loop, through <paramref name="http"/>: an API host this benchmark started (<paramref name="api"/>,
    /// whose memory is reported too) or one of a running cluster.</summary>
    public static async Task SearchAsync(HttpClient http, ApiProcess? api, int points, int dims, int shards,
        int seconds, int[] concurrencies, int k, string quantization = "none", string rerank = "memory")
    {
        // The process without the catalog: what loading adds is measured against it.
        if (api is not null) await api.WaitUntilIdleAsync(TimeSpan.FromSeconds(1));
        var idle = api?.Resident() ?? (0, 0, 0);
        await CreateCatalog(http, "search", dims, shards, quantization == "none" ? null
            : new { quantization, rerankVectors = rerank });
        // Clustered data, as embeddings are (uniform random vectors in 1280 dimensions have no neighbourhoods to find).
        var all = VectorFiles.Synthetic(points + 200, dims, seed: 42); // queries drawn from the same clusters
        var data = all[..points];
        var queries = all[points..];
        var exact = new Catalogs.VectorIndex.ExactIndex(dims, Catalogs.VectorIndex.DistanceMetric.Cosine);
        for (int i = 0; i < data.Length; i++) exact.Upsert($"p{i}", data[i], Catalogs.VectorIndex.PointAttributes.None);
        var truth = new HashSet<string>[queries.Length];
        Parallel.For(0, queries.Length, i => truth[i] = exact.Search(queries[i],
            new Catalogs.VectorIndex.SearchOptions(k)).Select(n => n.Id).ToHashSet());
        var load = Stopwatch.StartNew();
        await LoadAsync(http, "search", data);
        Console.WriteLine($"Search: loaded {points:N0} × {dims} clustered vectors through products:batch in " +
            $"{load.Elapsed.TotalSeconds:F1} s ({points / load.Elapsed.TotalSeconds:F0}/s), {shards} shards, HNSW M " +
            $"16, efConstruction 200, ef 64, quantization {quantization}" +
            (quantization == "none" ? "" : $", re-rank vectors {rerank}"));
        double raw = (double)points * dims * sizeof(float);
        if (api is not null) await api.WaitUntilIdleAsync(TimeSpan.FromSeconds(12)); // two quiet periods: a trim
        var (rss, anonymous, file) = api?.Resident() ?? (0, 0, 0);
        if (api is not null)
            Console.WriteLine($"  process RSS after loading, once idle: {rss / 1048576.0:F0} MiB = " +
            $"{rss / points / 1024:F1} KiB per product, " +
            $"{rss / raw:F2}× the raw float32 vectors (anonymous {anonymous / 1048576.0:F0} MiB = " +
                $"{anonymous / raw:F2}×, " +
            $"file-backed {file / 1048576.0:F0} MiB)");
        if (api is not null)
            Console.WriteLine($"  loading added {(rss - idle.Total) / 1048576.0:F0} MiB = " +
                $"{(rss - idle.Total) / raw:F2}× the raw vectors (anonymous " +
                $"{(anonymous - idle.Anonymous) / raw:F2}×) to the idle process's {idle.Total / 1048576.0:F0} MiB " +
                $"(anonymous {idle.Anonymous / 1048576.0:F0} MiB)");
        if (api is not null) Console.WriteLine("  " + await GcHeapReport(http));
        foreach (var concurrency in concurrencies)
        {
            var latencies = new List<double>();
            int hits = 0, asked = 0;
            var until = Stopwatch.GetTimestamp() + seconds * Stopwatch.Frequency;
            var wall = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, concurrency).Select(w => Task.Run(async () =>
            {
                var mine = new List<double>();
                for (int n = w; Stopwatch.GetTimestamp() < until; n += concurrency)
                {
                    int qi = n % queries.Length;
                    var t = Stopwatch.GetTimestamp();
                    var r = await http.PostAsJsonAsync("/v1/catalogs/search/search",
                        new { featureVector = queries[qi], neighborCount = k });
                    r.EnsureSuccessStatusCode();
                    var body = await r.Content.ReadFromJsonAsync<JsonObject>();
                    mine.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                    int found = body!["neighbors"]!.AsArray().Count(x =>
                        truth[qi].Contains(x!["id"]!.GetValue<string>()));
                    Interlocked.Add(ref hits, found);
                    Interlocked.Add(ref asked, k);
                }
                lock (latencies) latencies.AddRange(mine);
            })));
            Console.WriteLine($"  k = {k}, {concurrency} concurrent clients: " +
                $"{latencies.Count / wall.Elapsed.TotalSeconds:F1} queries/s, recall@{k} {(double)hits / asked:F3}, " +
                $"{Stats.Latencies(latencies)}");
        }
        if (api is not null) Console.WriteLine("  " + await GcHeapReport(http));
    }

    /// <summary>The managed heap as the runtime saw it at its last collection (the API host's Prometheus
    /// endpoint): size and fragmentation per generation and the memory the GC holds committed, which tells the
    /// live data from the collector's slack in the RSS above.</summary>
    static async Task<string> GcHeapReport(HttpClient http)
    {
        var text = await http.GetStringAsync("/metrics");
        double Sum(string metric, string? generation = null) => text.Split('\n')
            .Where(l => l.StartsWith(metric + "{", StringComparison.Ordinal)
                && (generation is null
                    || l.Contains($"gc_heap_generation=\"{generation}\"", StringComparison.Ordinal)))
            .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));
        static string Mib(double bytes) => $"{bytes / 1048576.0:F0}";
        var generations = string.Join(", ", new[] { "gen0", "gen1", "gen2", "loh", "poh" }.Select(g =>
            $"{g} {Mib(Sum("dotnet_gc_last_collection_heap_size_bytes", g))}" +
            $"/{Mib(Sum("dotnet_gc_last_collection_heap_fragmentation_size_bytes", g))}"));
        return $"GC heap at its last collection (MiB size/fragmentation): {generations}; committed " +
            Mib(Sum("dotnet_gc_last_collection_memory_committed_size_bytes")) + " MiB; heap trims so far " +
            Sum("catalogs_memory_trims_total");
    }
}
