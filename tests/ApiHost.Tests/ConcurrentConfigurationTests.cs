using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;

namespace Catalogs.ApiHost.Tests;

/// <summary>
/// Re-configuring a catalog while other clients write, read back and delete (empty at times, so configured anew;
/// holding products at others, so re-embedded into a new version and switched): no acknowledged write may vanish, and
/// a catalog that exists never answers 404 or 500.
/// </summary>
[Collection(ApiCollection.Name)]
public class ConcurrentConfigurationTests(ApiFactory factory)
{
    public static TheoryData<string> Variants => ["same-body", "ef-search", "shards"];

    [Theory]
    [MemberData(nameof(Variants))]
    public async Task Writes_racing_configuration_changes_are_never_lost(string variant)
    {
        var http = factory.CreateClient();
        var url = $"/v1/catalogs/race-{variant}";
        object Config(int i) => variant switch
        {
            "same-body" => new { dimensions = 4, shards = 2 },
            "ef-search" => new { dimensions = 4, shards = 2, index = new { efSearch = 64 + i % 2 } },
            _ => new { dimensions = 4, shards = 1 + i % 3 },
        };
        await (await http.PutJson(url, Config(0))).Json(HttpStatusCode.Created);
        var failures = new ConcurrentQueue<string>();
        var configStatuses = new ConcurrentDictionary<int, int>();
        int acknowledged = 0;
        var clock = Stopwatch.StartNew();
        bool Running() => clock.Elapsed < TimeSpan.FromSeconds(4) && failures.IsEmpty;

        var configurer = Task.Run(async () =>
        {
            for (int i = 1; Running(); i++)
            {
                var r = await http.PutJson(url, Config(i));
                configStatuses.AddOrUpdate((int)r.StatusCode, 1, (_, n) => n + 1);
                if (r.StatusCode is not (HttpStatusCode.OK or HttpStatusCode.Conflict))
                    failures.Enqueue($"PUT config: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
            }
        });
        var writers = Enumerable.Range(0, 3).Select(w => Task.Run(async () =>
        {
            var random = new Random(w);
            for (int i = 0; Running(); i++)
            {
                var id = $"w{w}-{i}";
                var vector = Enumerable.Range(0, 4).Select(_ => (float)random.NextDouble() + 0.1f).ToArray();
                var put = await http.PutJson($"{url}/products/{id}", new { featureVector = vector });
                if (put.StatusCode != HttpStatusCode.OK)
                {
                    failures.Enqueue($"PUT {id}: {(int)put.StatusCode} {await put.Content.ReadAsStringAsync()}");
                    return;
                }
                Interlocked.Increment(ref acknowledged);
                var get = await http.GetAsync($"{url}/products/{id}");
                if (get.StatusCode != HttpStatusCode.OK)
                    failures.Enqueue($"GET {id} right after its acknowledgement: {(int)get.StatusCode}");
                var search = await http.PostJson($"{url}/search", new { featureVector = vector, neighborCount = 3 });
                if (search.StatusCode != HttpStatusCode.OK) failures.Enqueue($"search: {(int)search.StatusCode}");
                var delete = await http.DeleteAsync($"{url}/products/{id}");
                if (delete.StatusCode != HttpStatusCode.NoContent)
                    failures.Enqueue($"DELETE {id}: {(int)delete.StatusCode}");
            }
        })).ToArray();
        await Task.WhenAll([configurer, .. writers]);

        Assert.True(failures.IsEmpty, string.Join("\n", failures.Take(10)));
        Assert.True(acknowledged > 50, $"only {acknowledged} writes in the run");
        Assert.True(configStatuses.GetValueOrDefault(200) > 10, "the configuration hardly changed during the run");
        // Writes that are kept survive the next configuration change too (a re-embedding: the catalog holds them).
        await (await http.PutJson($"{url}/products/kept",
            new { featureVector = new[] { 1f, 0, 0, 0 } })).Json(HttpStatusCode.OK);
        var current = (await WhenSettledAsync(http, url))["config"]!;
        object different = variant switch
        {
            "same-body" => Config(0),
            "ef-search" => new
            {
                dimensions = 4,
                shards = 2,
                index = new { efSearch = current["index"]!["efSearch"]!.GetValue<int>() == 64 ? 65 : 64 },
            },
            _ => new { dimensions = 4, shards = current["shards"]!.GetValue<int>() % 3 + 1 },
        };
        await (await http.PutJson(url, different)).Json(HttpStatusCode.OK);
        var info = await WhenSettledAsync(http, url);
        await (await http.GetAsync($"{url}/products/kept")).Json(HttpStatusCode.OK);
        Assert.Equal(1, info["products"]!.GetValue<long>());
        if (variant == "shards")
            Assert.Equal(current["shards"]!.GetValue<int>() % 3 + 1, info["config"]!["shards"]!.GetValue<int>());
    }

    /// <summary>The catalog once no re-embedding runs in it.</summary>
    static async Task<System.Text.Json.Nodes.JsonNode> WhenSettledAsync(HttpClient http, string url)
    {
        for (var deadline = DateTime.UtcNow.AddMinutes(1); ; await Task.Delay(50))
        {
            var info = await (await http.GetAsync(url)).Json(HttpStatusCode.OK);
            var phase = info["reembedding"]?["phase"]?.GetValue<string>();
            if (phase != "copying") return info;
            Assert.True(DateTime.UtcNow < deadline, "a re-embedding did not finish in a minute");
        }
    }
}
