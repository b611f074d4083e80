using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Catalogs.Grains.Catalogs;
using Xunit.Abstractions;

namespace Catalogs.Cluster.Tests;

/// <summary>A catalog with a read replica of every shard on a real 3-silo cluster: copies on distinct silos,
/// searches answered in full while the silo of most primaries dies, and copies moving onto a fourth silo.</summary>
public sealed class ReplicaTests(ITestOutputHelper output)
{
    const int Shards = 6, Dimensions = 4, Products = 600;

    static float[] VectorOf(int n) => [n % 10, n / 10 % 10, n / 100, 1];

    static float Distance(float[] a, float[] b) => a.Zip(b).Sum(p => (p.First - p.Second) * (p.First - p.Second));

    [Fact]
    public async Task Every_shard_answers_in_full_from_its_replica_when_a_silo_dies_and_copies_spread_to_a_new_silo()
    {
        await using var cluster = await LocalCluster.StartAsync(silos: 3,
            siloSettings: new() { ["Catalogs__PlacementCheckInterval"] = "00:00:02" });
        var http = cluster.Api();
        var created = await http.PutAsJsonAsync("/v1/catalogs/mirrored", new
        {
            dimensions = Dimensions,
            metric = "squaredL2",
            shards = Shards,
            replicas = 2,
            index = new { kind = "exact" },
        });
        Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync());
        var products = Enumerable.Range(0, Products).ToDictionary(n => $"p{n}", VectorOf);
        var batch = await http.PostAsJsonAsync("/v1/catalogs/mirrored/products:batch", new
        {
            datapoints = products.Select(p => new { datapointId = p.Key, featureVector = p.Value }),
        });
        Assert.True(batch.IsSuccessStatusCode, await batch.Content.ReadAsStringAsync());

        // Each replica loads and catches up with its primary, on another silo.
        var stats = await SettledAsync(http, cluster, "the replicas never caught up");

        // More copies than silos is accepted, and reported: the fourth copy of each shard has no silo of its own.
        var crowded = await http.PutAsJsonAsync("/v1/catalogs/crowded",
            new { dimensions = 2, shards = 2, replicas = 4 });
        Assert.True(crowded.IsSuccessStatusCode, await crowded.Content.ReadAsStringAsync());
        var underReplicated = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        JsonNode view;
        do
        {
            await Task.Delay(250);
            view = JsonNode.Parse(await http.GetStringAsync("/v1/catalogs/crowded"))!;
        }
        while (view["shards"]!.AsArray().Any(s => s!["replicas"]!.AsArray().Count(r => r!["loaded"]!.GetValue<bool>())
            < 2) && DateTime.UtcNow < underReplicated);
        Assert.Equal(2, view["underReplicated"]!.GetValue<int>());
        Assert.All(view["shards"]!.AsArray(), s => Assert.False(s!["replicas"]![2]!["loaded"]!.GetValue<bool>()));
        var primaries = stats.ToDictionary(s => s.Shard, s => s.Silo);
        output.WriteLine("primaries on " + string.Join(", ", primaries.Values.Select(s => cluster.SiloAt(s).Name)));

        var query = new float[] { 4.2f, 3.1f, 2.2f, 1 };
        var expected = products.OrderBy(p => Distance(query, p.Value)).ThenBy(p => p.Key, StringComparer.Ordinal)
            .Take(10).Select(p => p.Key).ToArray();
        Assert.Equal(expected, await SearchAsync(http, query, "strong"));
        Assert.Equal(expected, await SearchAsync(http, query, "eventual"));

        // A strong read sees an acknowledged write at once: it asks the primary.
        var fresh = await http.PutAsJsonAsync("/v1/catalogs/mirrored/products/fresh",
            new { featureVector = new[] { 4.2f, 3.1f, 2.2f, 1 } });
        Assert.True(fresh.IsSuccessStatusCode, await fresh.Content.ReadAsStringAsync());
        Assert.Equal("fresh", (await SearchAsync(http, query, "strong"))[0]);
        expected = ["fresh", .. expected[..9]];
        products["fresh"] = query;
        await SettledAsync(http, cluster, "the replicas never applied the new product");

        var epochs = await LeaseEpochsAsync(http);
        // kill -9 the silo of most primaries: every search still answers, in full, without an error.
        var victim = cluster.SiloAt(primaries.Values.GroupBy(s => s).MaxBy(g => g.Count())!.Key);
        cluster.Kill(victim);
        var clock = Stopwatch.StartNew();
        double slowest = 0;
        int searches = 0;
        while (clock.Elapsed < TimeSpan.FromSeconds(12))
        {
            var started = clock.Elapsed;
            Assert.Equal(expected, await SearchAsync(http, query, "eventual"));
            slowest = Math.Max(slowest, (clock.Elapsed - started).TotalSeconds);
            searches++;
        }
        output.WriteLine($"{searches} searches after killing {victim.Name}, all complete; slowest {slowest:F2} s");

        // The dead silo's primaries came back where their replicas ran, and every shard takes writes again.
        foreach (var shard in Enumerable.Range(0, Shards))
        {
            var id = Enumerable.Range(0, 1000).Select(n => $"after{n}")
                .First(i => CatalogGrain.ShardOf(i, Shards) == shard);
            var put = await http.PutAsJsonAsync($"/v1/catalogs/mirrored/products/{id}",
                new { featureVector = new[] { 9f, 9, 9, 9 } });
            Assert.True(put.IsSuccessStatusCode, $"shard {shard}: {await put.Content.ReadAsStringAsync()}");
        }
        var after = await SettledAsync(http, cluster, "the survivors did not hold both copies of every shard");
        var origins = (await CatalogAsync(http))["shards"]!.AsArray().ToDictionary(s => s!["shard"]!.GetValue<int>(),
            s => s!["indexOrigin"]!.GetValue<string>());
        // The dead silo's primaries were taken over in place by their replicas, even those whose replica the runtime
        // deactivated because its directory entry lived on the dead silo (the open copy is kept for the next
        // activation); the other primaries kept their lease, so none was opened again from the store.
        var epochsAfter = await LeaseEpochsAsync(http);
        foreach (var (shard, silo) in primaries)
        {
            bool moved = cluster.SiloAt(silo) == victim;
            Assert.True(!moved || origins[shard] == "promoted", $"shard {shard}: {origins[shard]}");
            Assert.Equal(epochs[shard] + (moved ? 1 : 0), epochsAfter[shard]);
        }
        int kept = cluster.Silos.Sum(s => File.ReadLines(s.Log).Count(l => l.Contains("kept open for its next")));
        output.WriteLine($"{primaries.Count(p => cluster.SiloAt(p.Value) == victim)} primaries of the dead silo " +
            $"taken over in place; {kept} copies on the survivors kept across a deactivation by the runtime");
        Assert.All(after, s => Assert.NotEqual(victim, cluster.SiloAt(s.Silo)));

        // A fourth silo joins: copies whose placement now prefers it move there, and still no two copies of a shard
        // share a silo.
        var joined = await cluster.StartSiloAsync();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (true)
        {
            var now = await SettledAsync(http, cluster, "copies did not settle after the fourth silo joined");
            if (now.Any(s => cluster.SiloAt(s.Silo) == joined || s.ReplicaSilo is { } r && cluster.SiloAt(r) == joined))
                break;
            Assert.True(DateTime.UtcNow < deadline, "no copy moved to the new silo\n" + cluster.Logs());
            await Task.Delay(500);
        }
        Assert.Equal(expected, await SearchAsync(http, query, "eventual"));
        Assert.Equal(Products + 1 + Shards, (await CatalogAsync(http))["products"]!.GetValue<long>());

        // Every silo reports its copies to Prometheus, replicas with their staleness.
        var scraped = string.Join("\n", await Task.WhenAll(cluster.Silos.Where(s => s.Alive).Select(s =>
            s.Http!.GetStringAsync("/metrics"))));
        Assert.Contains("role=\"replica\"", scraped);
        Assert.Contains("catalogs_replica_staleness_seconds{", scraped);
        Assert.Contains("catalogs_shard_search_duration_seconds_bucket{", scraped);
    }

    sealed record ShardCopies(int Shard, string Silo, string? ReplicaSilo);

    /// <summary>Waits until every shard's replica has loaded, applied everything its primary has, and runs on
    /// another silo; the shards' silos then.</summary>
    static async Task<List<ShardCopies>> SettledAsync(HttpClient http, LocalCluster cluster, string failure)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        string last = "";
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                var catalog = await CatalogAsync(http);
                last = catalog.ToJsonString();
                var shards = catalog["shards"]!.AsArray().Select(s => s!).ToList();
                bool settled = catalog["underReplicated"]!.GetValue<int>() == 0 && shards.All(s =>
                    s["replicas"]!.AsArray().Single() is { } r
                    && r["loaded"]!.GetValue<bool>()
                    && r["lastSequence"]!.GetValue<long>() == s["lastSequence"]!.GetValue<long>()
                    && r["silo"]!.GetValue<string>() != s["silo"]!.GetValue<string>());
                if (settled)
                    return shards.Select(s => new ShardCopies(s["shard"]!.GetValue<int>(),
                        s["silo"]!.GetValue<string>(), s["replicas"]![0]!["silo"]!.GetValue<string>())).ToList();
            }
            catch (HttpRequestException) { }
            await Task.Delay(250);
        }
        throw new Xunit.Sdk.XunitException($"{failure}: {last}\n{cluster.Logs()}");
    }

    static async Task<Dictionary<int, long>> LeaseEpochsAsync(HttpClient http) =>
        (await CatalogAsync(http))["shards"]!.AsArray().ToDictionary(s => s!["shard"]!.GetValue<int>(),
            s => s!["leaseEpoch"]!.GetValue<long>());

    static async Task<JsonNode> CatalogAsync(HttpClient http)
    {
        var response = await http.GetAsync("/v1/catalogs/mirrored");
        var body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode) throw new HttpRequestException($"{(int)response.StatusCode} {body}");
        return JsonNode.Parse(body)!;
    }

    static async Task<string[]> SearchAsync(HttpClient http, float[] query, string consistency)
    {
        var response = await http.PostAsJsonAsync("/v1/catalogs/mirrored/search",
            new { featureVector = query, neighborCount = 10, consistency });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode} {body}");
        var json = JsonNode.Parse(body)!;
        Assert.False(json["partial"]!.GetValue<bool>(), body);
        return json["neighbors"]!.AsArray().Select(n => n!["id"]!.GetValue<string>()).ToArray();
    }
}
