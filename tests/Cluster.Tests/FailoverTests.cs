using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Catalogs.Grains.Catalogs;
using Xunit.Abstractions;

namespace Catalogs.Cluster.Tests;

/// <summary>A real cluster on loopback (3 silos, an API host, Redis, PostgreSQL) losing a silo to kill -9 in the
/// middle of an ingest.</summary>
public sealed class FailoverTests(ITestOutputHelper output)
{
    const int Shards = 6, Dimensions = 8, Products = 10_000, Writers = 4;

    static float[] VectorOf(int writer, int n, int version) =>
        [writer, n, version, n % 7, n % 11, n % 13, 1, -1];

    [Fact]
    public async Task A_silo_killed_mid_ingest_loses_no_acknowledged_write_and_every_shard_is_writable_again()
    {
        await using var cluster = await LocalCluster.StartAsync(silos: 3);
        var http = cluster.Api();
        var created = await http.PutAsJsonAsync("/v1/catalogs/failover",
            new { dimensions = Dimensions, metric = "squaredL2", shards = Shards });
        Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync());

        var acknowledged = new ConcurrentDictionary<string, float[]>();
        var lastFailure = new long[Shards]; // Stopwatch ticks of each shard's last failed write after the kill
        var slowest = new double[Shards]; // seconds from the kill to the acknowledgement of a write that waited
        var firstRetry = new ConcurrentBag<string>();
        var clock = Stopwatch.StartNew();
        long killedAt = -1;
        int done = 0;
        var kill = new TaskCompletionSource();

        async Task WriteAsync(string id, float[] vector)
        {
            int shard = CatalogGrain.ShardOf(id, Shards);
            var deadline = clock.Elapsed + TimeSpan.FromSeconds(60);
            long started = clock.ElapsedTicks;
            while (true)
            {
                // Upserts by id with the same body are idempotent: a writer may resend until acknowledged.
                HttpResponseMessage? response = null;
                try
                {
                    response = await http.PutAsJsonAsync($"/v1/catalogs/failover/products/{id}",
                        new { featureVector = vector });
                }
                catch (HttpRequestException) { }
                if (response is { IsSuccessStatusCode: true })
                {
                    acknowledged[id] = vector;
                    long kill = Volatile.Read(ref killedAt), now = clock.ElapsedTicks;
                    // A write in flight at the kill or after it, that waited (the API host retries for it): the
                    // shard was writable again when it was acknowledged.
                    if (kill >= 0 && now > kill && now - started > Stopwatch.Frequency / 4)
                        lock (slowest) slowest[shard] = Math.Max(slowest[shard],
                            (now - kill) / (double)Stopwatch.Frequency);
                    return;
                }
                if (response is { } r && (int)r.StatusCode is >= 400 and < 500)
                    Assert.Fail($"{id}: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
                if (Volatile.Read(ref killedAt) >= 0) Interlocked.Exchange(ref lastFailure[shard], clock.ElapsedTicks);
                firstRetry.Add(id);
                Assert.True(clock.Elapsed < deadline,
                    $"{id} (shard {shard}) was never acknowledged.\n{cluster.Logs()}");
                await Task.Delay(50);
            }
        }

        var writers = Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            for (int n = 0; n < Products / Writers; n++)
            {
                await WriteAsync($"w{w}-{n}", VectorOf(w, n, 1));
                // Every tenth product is written again: the last acknowledged value must win.
                if (n % 10 == 5) await WriteAsync($"w{w}-{n - 5}", VectorOf(w, n - 5, 2));
                if (Interlocked.Increment(ref done) == Products / 2) kill.TrySetResult();
            }
        })).ToArray();

        var searchStatuses = new ConcurrentDictionary<int, int>();
        using var stopSearching = new CancellationTokenSource();
        var searcher = Task.Run(async () =>
        {
            while (!stopSearching.IsCancellationRequested)
            {
                try
                {
                    var r = await http.PostAsJsonAsync("/v1/catalogs/failover/search",
                        new { featureVector = VectorOf(1, 1, 1), neighborCount = 5 });
                    int status = (int)r.StatusCode;
                    if (r.IsSuccessStatusCode)
                    {
                        var body = JsonNode.Parse(await r.Content.ReadAsStringAsync())!;
                        // A partial answer names the shards it lacks; a whole one names none.
                        bool partial = body["partial"]!.GetValue<bool>();
                        Assert.Equal(partial, body["missingShards"] is JsonArray { Count: > 0 });
                        if (partial) status = 206; // counted apart: a 200 that says it is partial
                    }
                    searchStatuses.AddOrUpdate(status, 1, (_, c) => c + 1);
                }
                catch (HttpRequestException) { searchStatuses.AddOrUpdate(0, 1, (_, c) => c + 1); }
                await Task.Delay(20);
            }
        });

        await kill.Task;
        var victim = cluster.Silos[1];
        Volatile.Write(ref killedAt, clock.ElapsedTicks);
        cluster.Kill(victim);
        await Task.WhenAll(writers);
        await stopSearching.CancelAsync();
        await searcher;

        // Every shard whose writes failed after the kill was writable again at its first success after its last
        // failure; the slowest of them is the failover time.
        double resent = lastFailure.Where(t => t > 0)
            .Select(t => (t - killedAt) / (double)Stopwatch.Frequency).DefaultIfEmpty(0).Max();
        output.WriteLine($"{acknowledged.Count:N0} products acknowledged; {firstRetry.Count} writes resent by the " +
            $"client (last failure {resent:F1} s after the kill); every shard writable again " +
            $"{Math.Max(resent, slowest.Max()):F1} s after the kill (per shard: " +
            $"{string.Join(", ", slowest.Select(s => s.ToString("F1")))} s)");
        output.WriteLine("search statuses during the run: " +
            string.Join(", ", searchStatuses.OrderBy(s => s.Key).Select(s => $"{s.Key}: {s.Value}")));
        Assert.Equal(Products, acknowledged.Count);
        // A search never failed with anything but "unavailable, retry", and never was silently partial.
        Assert.All(searchStatuses.Keys, status => Assert.Contains(status, new[] { 200, 206, 503 }));

        // Every acknowledged upsert is there with its last acknowledged value.
        var missing = new ConcurrentBag<string>();
        await Parallel.ForEachAsync(acknowledged, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (p, ct) =>
        {
            var r = await http.GetAsync($"/v1/catalogs/failover/products/{p.Key}", ct);
            if (!r.IsSuccessStatusCode) { missing.Add($"{p.Key}: {(int)r.StatusCode}"); return; }
            var body = JsonNode.Parse(await r.Content.ReadAsStringAsync(ct))!;
            var vector = body["featureVector"]!.AsArray().Select(x => x!.GetValue<float>()).ToArray();
            if (!vector.SequenceEqual(p.Value)) missing.Add($"{p.Key}: stale vector");
        });
        Assert.True(missing.IsEmpty, $"{missing.Count} acknowledged products lost or stale: " +
            string.Join(", ", missing.Take(10)) + "\n" + cluster.Logs());
        Assert.False(victim.Alive);
    }
}
