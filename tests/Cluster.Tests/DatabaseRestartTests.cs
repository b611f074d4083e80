using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Xunit.Abstractions;

namespace Catalogs.Cluster.Tests;

/// <summary>PostgreSQL restarting under a live ingest: writes are refused while it is gone, searches go on from
/// memory (the shards do not retire: they reopen at the next write), nothing acknowledged is lost.</summary>
public sealed class DatabaseRestartTests(ITestOutputHelper output)
{
    [Fact]
    public async Task While_PostgreSQL_restarts_writes_answer_503_searches_answer_and_no_acknowledged_write_is_lost()
    {
        // A short retry budget, so that writes during the outage answer 503 instead of waiting it out.
        await using var cluster = await LocalCluster.StartAsync(silos: 2, apiSettings: new()
        {
            ["Api__RetryBudget"] = "00:00:00.500",
        });
        var http = cluster.Api();
        var created = await http.PutAsJsonAsync("/v1/catalogs/restart",
            new { dimensions = 4, metric = "squaredL2", shards = 4 });
        Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync());

        var acknowledged = new ConcurrentDictionary<string, float[]>();
        // A refused write may still have committed (the answer was lost, not the write): until a later write of the
        // same id is acknowledged, that id may hold either value.
        var uncertain = new ConcurrentDictionary<string, float[]>();
        var writeStatuses = new ConcurrentDictionary<int, int>();
        var searchesWhileDown = new ConcurrentDictionary<int, int>();
        int down = 0, next = 0;
        using var stop = new CancellationTokenSource();
        var writers = Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                int n = Interlocked.Increment(ref next);
                var vector = new float[] { n, n % 5, 1, -1 };
                try
                {
                    var r = await http.PutAsJsonAsync($"/v1/catalogs/restart/products/p{n % 3000}",
                        new { featureVector = vector });
                    writeStatuses.AddOrUpdate((int)r.StatusCode, 1, (_, c) => c + 1);
                    // The last acknowledged write of an id wins; writes of one id never overlap (n differs by 3000).
                    if (r.IsSuccessStatusCode)
                    {
                        acknowledged[$"p{n % 3000}"] = vector;
                        uncertain.TryRemove($"p{n % 3000}", out float[]? _);
                    }
                    else uncertain[$"p{n % 3000}"] = vector;
                }
                catch (HttpRequestException)
                {
                    writeStatuses.AddOrUpdate(0, 1, (_, c) => c + 1);
                    uncertain[$"p{n % 3000}"] = vector;
                }
            }
        })).ToArray();
        var searcher = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var r = await http.PostAsJsonAsync("/v1/catalogs/restart/search",
                    new { featureVector = new float[] { 1, 1, 1, -1 }, neighborCount = 3 });
                if (Volatile.Read(ref down) == 1) searchesWhileDown.AddOrUpdate((int)r.StatusCode, 1, (_, c) => c + 1);
                await Task.Delay(20);
            }
        });

        while (acknowledged.Count < 500) await Task.Delay(50);
        Volatile.Write(ref down, 1);
        await cluster.Postgres.RestartAsync(TimeSpan.FromSeconds(3));
        Volatile.Write(ref down, 0);
        int before = acknowledged.Count;
        // Writes are acknowledged again once the database is back.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (acknowledged.Count < before + 500 && DateTime.UtcNow < deadline) await Task.Delay(50);
        await stop.CancelAsync();
        await Task.WhenAll(writers);
        await searcher;

        output.WriteLine("write statuses: " + string.Join(", ", writeStatuses.OrderBy(s => s.Key)
            .Select(s => $"{s.Key}: {s.Value}")));
        output.WriteLine("search statuses while PostgreSQL was down: " + string.Join(", ",
            searchesWhileDown.OrderBy(s => s.Key).Select(s => $"{s.Key}: {s.Value}")));
        Assert.True(acknowledged.Count >= before + 500, $"writes did not resume.\n{cluster.Logs()}");
        Assert.All(writeStatuses.Keys, s => Assert.Contains(s, new[] { 200, 503 }));
        Assert.True(writeStatuses.GetValueOrDefault(503) > 0, "no write was refused while the database was down");
        // The shards answer searches from memory: the database is not on their path.
        Assert.True(searchesWhileDown.GetValueOrDefault(200) > 0, "no search answered while the database was down");
        Assert.All(searchesWhileDown.Keys, s => Assert.Equal(200, s));

        var lost = new ConcurrentBag<string>();
        await Parallel.ForEachAsync(acknowledged, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (p, ct) =>
        {
            var r = await http.GetAsync($"/v1/catalogs/restart/products/{p.Key}", ct);
            var vector = r.IsSuccessStatusCode
                ? JsonNode.Parse(await r.Content.ReadAsStringAsync(ct))!["featureVector"]!.AsArray()
                    .Select(x => x!.GetValue<float>()).ToArray()
                : null;
            bool expected = vector is not null && (vector.SequenceEqual(p.Value)
                || uncertain.TryGetValue(p.Key, out var maybe) && vector.SequenceEqual(maybe));
            if (!expected) lost.Add($"{p.Key}: {(int)r.StatusCode}");
        });
        Assert.True(lost.IsEmpty, $"{lost.Count} acknowledged writes lost: {string.Join(", ", lost.Take(10))}");
    }
}
