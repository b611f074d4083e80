using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Catalogs.Cluster.Tests;

/// <summary>Two writers upserting ids of a 4-d catalog over and over and a searcher, through an API host, while
/// something goes wrong; what was acknowledged, what was refused, and how searches answered while it did.</summary>
sealed class LiveTraffic : IAsyncDisposable
{
    readonly HttpClient http;
    readonly string catalog;
    readonly CancellationTokenSource stop = new();
    readonly Task[] workers;
    int next, during, acknowledgements;

    public ConcurrentDictionary<string, float[]> Acknowledged { get; } = new();
    /// <summary>A refused write may still have committed (its answer was lost, not the write): until a later write
    /// of the same id is acknowledged, that id may hold either value.</summary>
    public ConcurrentDictionary<string, float[]> Uncertain { get; } = new();
    public ConcurrentDictionary<int, int> WriteStatuses { get; } = new();
    public ConcurrentDictionary<int, int> WritesDuring { get; } = new();
    public ConcurrentDictionary<int, int> SearchesDuring { get; } = new();

    LiveTraffic(HttpClient http, string catalog)
    {
        (this.http, this.catalog) = (http, catalog);
        workers = [WriteAsync(), WriteAsync(), SearchAsync()];
    }

    public static async Task<LiveTraffic> StartAsync(HttpClient http, string catalog)
    {
        var created = await http.PutAsJsonAsync($"/v1/catalogs/{catalog}",
            new { dimensions = 4, metric = "squaredL2", shards = 4 });
        Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync());
        return new LiveTraffic(http, catalog);
    }

    /// <summary>Runs <paramref name="trouble"/> once <paramref name="before"/> writes were acknowledged, counting
    /// answers meanwhile apart, then waits for <paramref name="after"/> more acknowledgements (false if they did not
    /// come within a minute).</summary>
    public async Task<bool> ThroughAsync(Func<Task> trouble, int before = 500, int after = 500)
    {
        while (Volatile.Read(ref acknowledgements) < before) await Task.Delay(50);
        Volatile.Write(ref during, 1);
        await trouble();
        Volatile.Write(ref during, 0);
        int then = Volatile.Read(ref acknowledgements);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (Volatile.Read(ref acknowledgements) < then + after && DateTime.UtcNow < deadline) await Task.Delay(50);
        return Volatile.Read(ref acknowledgements) >= then + after;
    }

    static void Count(ConcurrentDictionary<int, int> counts, int status) =>
        counts.AddOrUpdate(status, 1, (_, c) => c + 1);

    public static string Describe(ConcurrentDictionary<int, int> counts) =>
        string.Join(", ", counts.OrderBy(s => s.Key).Select(s => $"{s.Key}: {s.Value}"));

    async Task WriteAsync()
    {
        await Task.Yield();
        while (!stop.IsCancellationRequested)
        {
            int n = Interlocked.Increment(ref next);
            string id = $"p{n % 3000}"; // writes of one id never overlap (n differs by 3000)
            var vector = new float[] { n, n % 5, 1, -1 };
            int status;
            try
            {
                var r = await http.PutAsJsonAsync($"/v1/catalogs/{catalog}/products/{id}",
                    new { featureVector = vector });
                status = (int)r.StatusCode;
            }
            catch (HttpRequestException) { status = 0; }
            Count(WriteStatuses, status);
            if (Volatile.Read(ref during) == 1) Count(WritesDuring, status);
            if (status == 200)
            {
                Acknowledged[id] = vector; // the last acknowledged write of an id wins
                Interlocked.Increment(ref acknowledgements);
                Uncertain.TryRemove(id, out float[]? _);
            }
            else Uncertain[id] = vector;
        }
    }

    async Task SearchAsync()
    {
        await Task.Yield();
        while (!stop.IsCancellationRequested)
        {
            var r = await http.PostAsJsonAsync($"/v1/catalogs/{catalog}/search",
                new { featureVector = new float[] { 1, 1, 1, -1 }, neighborCount = 3 });
            if (Volatile.Read(ref during) == 1) Count(SearchesDuring, (int)r.StatusCode);
            await Task.Delay(20);
        }
    }

    /// <summary>Stops the traffic; then every acknowledged id must read back with its last acknowledged value (or,
    /// if a later write of it was refused, that one's).</summary>
    public async Task<List<string>> LostAsync()
    {
        await DisposeAsync();
        var lost = new ConcurrentBag<string>();
        await Parallel.ForEachAsync(Acknowledged, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (p, ct) =>
        {
            var r = await http.GetAsync($"/v1/catalogs/{catalog}/products/{p.Key}", ct);
            var vector = r.IsSuccessStatusCode
                ? JsonNode.Parse(await r.Content.ReadAsStringAsync(ct))!["featureVector"]!.AsArray()
                    .Select(x => x!.GetValue<float>()).ToArray()
                : null;
            bool expected = vector is not null && (vector.SequenceEqual(p.Value)
                || Uncertain.TryGetValue(p.Key, out var maybe) && vector.SequenceEqual(maybe));
            if (!expected) lost.Add($"{p.Key}: {(int)r.StatusCode}");
        });
        return [.. lost];
    }

    public async ValueTask DisposeAsync()
    {
        if (stop.IsCancellationRequested) return;
        await stop.CancelAsync();
        await Task.WhenAll(workers);
    }
}
