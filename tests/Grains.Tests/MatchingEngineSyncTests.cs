using System.Text.Json;
using Catalogs.Tests;
using Catalogs.VertexAI;
using Catalogs.VertexEmulator;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace Catalogs.Grains.Tests;

/// <summary>Catalogs mirrored into Matching Engine (the emulator, with OAuth and injected faults) through
/// restarts.</summary>
public sealed class MatchingEngineSyncTests : IAsyncLifetime
{
    WebApplication emulator = null!;
    Uri emulatorBase = null!;
    string keyFile = null!;
    ServiceProvider clients = null!;
    readonly HttpClient admin = new();
    const int Dimensions = 8;

    public async Task InitializeAsync()
    {
        (emulator, emulatorBase) = await EmulatorApp.StartAsync(requireAuth: true);
        keyFile = await emulator.CreateKeyFileAsync(emulatorBase, Path.Combine(TestPaths.NewTempDirectory("sa"),
            "key.json"));
        admin.BaseAddress = emulatorBase;
        var services = new ServiceCollection();
        services.AddVertexClients(new ConfigurationBuilder().AddInMemoryCollection(VertexSettings()).Build());
        clients = services.BuildServiceProvider();
    }

    public async Task DisposeAsync()
    {
        clients.Dispose();
        await emulator.DisposeAsync();
    }

    Dictionary<string, string?> VertexSettings() => new()
    {
        ["Vertex:ApiBase"] = emulatorBase.ToString(),
        ["Vertex:PublicEndpointBase"] = emulatorBase.ToString(),
        ["Vertex:StorageBase"] = emulatorBase.ToString(),
        ["Vertex:CredentialsFile"] = keyFile,
        ["Vertex:OperationPollInterval"] = "00:00:00.010",
        ["Vertex:RequestTimeout"] = "00:00:05",
    };

    Task<InProcessTestCluster> StartCluster(string dataPath)
    {
        var settings = VertexSettings();
        settings["Catalogs:DataPath"] = dataPath;
        settings["Catalogs:SnapshotEveryRecords"] = "300"; // snapshots, and log truncation, happen during the run
        settings["Catalogs:ModelPaths:0"] = TestPaths.ModelsDirectory;
        settings["Catalogs:Sync:PollInterval"] = "00:00:00.050";
        settings["Catalogs:Sync:MinBackoff"] = "00:00:00.020";
        settings["Catalogs:Sync:MaxBackoff"] = "00:00:00.500";
        settings["Catalogs:Sync:MaxBatch"] = "100";
        settings["Catalogs:MatchingEngineQueryTimeout"] = "00:00:00.500";
        return CatalogTestCluster.StartAsync(settings, 1);
    }

    MatchingEngineClient Vertex => clients.GetRequiredService<MatchingEngineClient>();

    Task<string> CreateIndexAsync(string update = "STREAM_UPDATE", int dimensions = Dimensions, string distance =
        "COSINE_DISTANCE") => Vertex.CreateTestIndexAsync(dimensions, distance, update);

    async Task<EmulatorStats> Stats() =>
        JsonSerializer.Deserialize<EmulatorStats>(await admin.GetStringAsync("emulator/stats"),
        new JsonSerializerOptions(JsonSerializerDefaults.Web))!;

    Task SetFaults(FaultSettings faults) => admin.PutAsync("emulator/faults", JsonContent(faults));

    static StringContent JsonContent(object o) => new(JsonSerializer.Serialize(o), System.Text.Encoding.UTF8,
        "application/json");

    static Datapoint Point(Random rng, string id) => new(id,
        Enumerable.Range(0, Dimensions).Select(_ => (float)rng.NextDouble()).ToArray(),
        [new Restrict("color", [rng.Next(2) == 0 ? "red" : "blue"], [])],
        [new NumericRestrict("price", ValueInt: rng.Next(1000))], $"brand{rng.Next(5)}", null, DateTimeOffset.UtcNow);

    /// <summary>A random stream of upserts (ids repeat, so writes coalesce) and deletes, applied to the catalog and to
    /// the expected state; ids containing "poison" are ones Matching Engine will reject.</summary>
    static async Task RunStream(ICatalogGrain catalog, Random rng, Dictionary<string, Datapoint> expected,
        int operations)
    {
        for (int n = 0; n < operations;)
        {
            if (rng.NextDouble() < 0.7)
            {
                var batch = Enumerable.Range(0, rng.Next(1, 6)).Select(_ => Point(rng, rng.Next(200) == 0
                    ? $"poison-{rng.Next(3)}" : $"p{rng.Next(600)}"))
                    .GroupBy(p => p.Id).Select(g => g.Last()).ToArray();
                await catalog.Upsert(batch);
                foreach (var p in batch) expected[p.Id] = p;
                n += batch.Length;
            }
            else
            {
                var id = $"p{rng.Next(600)}";
                await catalog.Remove(id);
                expected.Remove(id);
                n++;
            }
        }
    }

    [Fact]
    public async Task Five_thousand_changes_under_faults_and_a_restart_end_equal_in_matching_engine()
    {
        var data = TestPaths.NewTempDirectory("sync");
        var index = await CreateIndexAsync();
        var rng = new Random(5);
        var expected = new Dictionary<string, Datapoint>(StringComparer.Ordinal);
        // 20 % of requests fail: errors, throttling, and connections dropped before or after the change was applied.
        await SetFaults(new FaultSettings(ErrorRate: 0.08, ErrorStatus: 503, QuotaRate: 0.04, DropBeforeRate: 0.04,
            DropAfterRate: 0.04, Seed: 7, RejectDatapointsContaining: "poison"));

        var cluster = await StartCluster(data);
        try
        {
            var catalog = cluster.Client.GetGrain<ICatalogGrain>("t1/sync");
            var info = await catalog.Configure(new CatalogDraft(null, SimilarityMetric.Cosine, Dimensions, 3,
                MatchingEngine: new MatchingEngineSpec(index)));
            Assert.Equal(index, info.Spec.MatchingEngine!.Index);
            await RunStream(catalog, rng, expected, 2_450);
            // An outage at the end: whatever is still unsent when the silo stops must survive the restart.
            await SetFaults(new FaultSettings(ErrorRate: 1, ErrorStatus: 503));
            await RunStream(catalog, rng, expected, 50);
            Assert.True((await catalog.GetInfo())!.Shards.Sum(s => s.Sync!.Backlog) > 0);
        }
        finally { await cluster.DisposeAsync(); } // the backlog waits in the shards' logs
        await SetFaults(new FaultSettings(ErrorRate: 0.08, ErrorStatus: 503, QuotaRate: 0.04, DropBeforeRate: 0.04,
            DropAfterRate: 0.04, Seed: 8, RejectDatapointsContaining: "poison"));

        long before = (await Stats()).Requests;
        var restarted = await StartCluster(data);
        try
        {
            // Nobody calls the catalog: the silo itself wakes the shards that have a backlog, and they send it.
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while ((await Stats()).Requests == before)
            {
                Assert.True(DateTime.UtcNow < deadline, "no shard resumed syncing after the restart");
                await Task.Delay(100);
            }
            var catalog = restarted.Client.GetGrain<ICatalogGrain>("t1/sync");
            await RunStream(catalog, rng, expected, 2_500);
            var stats = await WaitForEmptyBacklog(catalog, failuresExpected: true);
            Assert.True(stats.Sum(s => s.Sync!.Sent) > 0);

            var poisoned = expected.Keys.Where(id => id.StartsWith("poison", StringComparison.Ordinal)).ToHashSet();
            Assert.NotEmpty(poisoned);
            var dead = await catalog.GetDeadLetters();
            Assert.Equal(poisoned, dead.Select(d => d.Id).ToHashSet());
            Assert.All(dead, d => Assert.Contains("INVALID_ARGUMENT", d.Error));
            Assert.Equal(dead.Length, stats.Sum(s => s.Sync!.DeadLetters));

            await AssertMirrors(index, expected.Where(e => !poisoned.Contains(e.Key)).ToDictionary());
            var faults = await Stats();
            Assert.True(faults.Errors > 0 && faults.Quota > 0 && faults.DroppedBefore > 0 && faults.DroppedAfter > 0,
                $"faults really happened: {faults}");
        }
        finally { await restarted.DisposeAsync(); }
    }

    [Fact]
    public async Task Binding_an_existing_catalog_sends_everything_and_rebinding_to_a_new_index_starts_over()
    {
        var data = TestPaths.NewTempDirectory("bind");
        var rng = new Random(9);
        var cluster = await StartCluster(data);
        try
        {
            var catalog = cluster.Client.GetGrain<ICatalogGrain>("t1/bind");
            await catalog.Configure(new CatalogDraft(null, SimilarityMetric.Cosine, Dimensions, 2));
            var expected = Enumerable.Range(0, 300).Select(i => Point(rng, $"p{i}")).ToDictionary(p => p.Id);
            await catalog.Upsert(expected.Values.ToArray());

            var first = await CreateIndexAsync();
            // Bound during an outage, then the silo restarts before anything was sent: everything still arrives.
            await SetFaults(new FaultSettings(ErrorRate: 1, PathContains: "/indexes/"));
            var unreachable = await Assert.ThrowsAsync<CatalogRequestException>(() =>
                catalog.Configure(new CatalogDraft(null, SimilarityMetric.Cosine, Dimensions, 2,
                MatchingEngine: new MatchingEngineSpec(first))));
            // the binding cannot be checked: 503, nothing changes
            Assert.Equal(CatalogError.Unavailable, unreachable.Error);
            await SetFaults(new FaultSettings(ErrorRate: 1, PathContains: "Datapoints"));
            await catalog.Configure(new CatalogDraft(null, SimilarityMetric.Cosine, Dimensions, 2,
                MatchingEngine: new MatchingEngineSpec(first)));
            await cluster.DisposeAsync();
            await SetFaults(new FaultSettings());
            cluster = await StartCluster(data);
            catalog = cluster.Client.GetGrain<ICatalogGrain>("t1/bind");
            await WaitForEmptyBacklog(catalog, failuresExpected: false);
            await AssertMirrors(first, expected);

            var second = await CreateIndexAsync();
            await catalog.Configure(new CatalogDraft(null, SimilarityMetric.Cosine, Dimensions, 2,
                MatchingEngine: new MatchingEngineSpec(second)));
            await catalog.Remove("p0");
            expected.Remove("p0");
            await WaitForEmptyBacklog(catalog, failuresExpected: false);
            await AssertMirrors(second, expected);

            // Bad bindings are refused when the catalog is configured.
            async Task Refused(MatchingEngineSpec me, string message)
            {
                var error = await Assert.ThrowsAsync<CatalogRequestException>(() =>
                    catalog.Configure(new CatalogDraft(null, SimilarityMetric.Cosine, Dimensions, 2,
                    MatchingEngine: me)));
                Assert.Equal(CatalogError.Malformed, error.Error);
                Assert.Contains(message, error.Message);
            }
            await Refused(new MatchingEngineSpec("projects/x/indexes/1"), "is not projects/");
            await Refused(new MatchingEngineSpec(await CreateIndexAsync(dimensions: 16)),
                "16 dimensions; the catalog has 8");
            await Refused(new MatchingEngineSpec(await CreateIndexAsync(distance: "SQUARED_L2_DISTANCE")),
                "does not rank like");
            await Refused(new MatchingEngineSpec(second, QueryRouting: (QueryRouting)7), "queryRouting");
            await Refused(new MatchingEngineSpec("projects/catalogs-dev/locations/europe-west4/indexes/999"),
                "NOT_FOUND");
        }
        finally { await cluster.DisposeAsync(); }
    }

    [Fact]
    public async Task A_catalog_exports_as_jsonl_to_cloud_storage_and_loads_a_batch_update_index()
    {
        var data = TestPaths.NewTempDirectory("export");
        var rng = new Random(17);
        var cluster = await StartCluster(data);
        try
        {
            var index = await CreateIndexAsync(update: "BATCH_UPDATE");
            var catalog = cluster.Client.GetGrain<ICatalogGrain>("t1/export");
            var info = await catalog.Configure(new CatalogDraft(null, SimilarityMetric.Cosine, Dimensions, 3,
                MatchingEngine: new MatchingEngineSpec(index)));
            Assert.All(info.Shards, s => Assert.Null(s.Sync)); // a batch index is not streamed to
            var expected = Enumerable.Range(0, 500).Select(i => Point(rng, $"p{i}")).ToDictionary(p => p.Id);
            await catalog.Upsert(expected.Values.ToArray());

            var result = await catalog.Export("gs://catalog-exports/nightly");
            Assert.True(result.Applied);
            Assert.Equal(500, result.Datapoints);
            Assert.Equal(3, result.Objects.Length);
            Assert.StartsWith("gs://catalog-exports/nightly/export-", result.ContentsDeltaUri);
            // The objects are Vertex JSONL that round-trips to the catalog's products.
            var storage = clients.GetRequiredService<CloudStorageClient>();
            var exported = new List<IndexDatapoint>();
            foreach (var uri in result.Objects)
            {
                var (bucket, name) = ResourceNames.SplitGcsUri(uri);
                exported.AddRange(System.Text.Encoding.UTF8.GetString((await storage.DownloadAsync(bucket,
                    name))!).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(JsonlRecord.Parse));
            }
            Assert.Equal(expected.Keys.Order(), exported.Select(p => p.DatapointId).Order());
            await AssertMirrors(index, expected);

            // A delta: only the changes since, removals under delete/.
            foreach (var id in expected.Keys.Take(50).ToList()) { await catalog.Remove(id); expected.Remove(id); }
            var changed = expected.Keys.Take(20).Select(id => Point(rng, id)).Concat(Enumerable.Range(500,
                30).Select(i => Point(rng, $"p{i}"))).ToArray();
            await catalog.Upsert(changed);
            foreach (var p in changed) expected[p.Id] = p;
            // an exported product removed; a new one upserted, then removed
            foreach (var id in new[] { "p499", "p500" })
            {
                await catalog.Remove(id);
                expected.Remove(id);
            }
            // Enough rewrites that every shard snapshots and truncates its log: the changes since the export must stay.
            var rewritten = expected.Values.Where(p => !changed.Any(c => c.Id == p.Id)).Take(200).ToArray();
            for (int round = 0; round < 5; round++)
            {
                var again = rewritten.Select(p => Point(rng, p.Id)).ToArray();
                await catalog.Upsert(again);
                foreach (var p in again) expected[p.Id] = p;
            }
            Assert.All((await catalog.GetInfo())!.Shards, s => Assert.True(s.SnapshotSequence > 0));
            var delta = await catalog.Export("gs://catalog-exports/nightly", delta: true);
            Assert.True(delta.Delta);
            Assert.Equal(49 + 200, delta.Datapoints);
            Assert.Equal(52, delta.Removals);
            Assert.Contains(delta.Objects, o => o.Contains("/delete/"));
            await AssertMirrors(index, expected);

            // And a full export again after deletes: a complete overwrite.
            foreach (var id in expected.Keys.Take(10).ToList()) { await catalog.Remove(id); expected.Remove(id); }
            Assert.False((await catalog.Export("gs://catalog-exports/nightly")).Delta);
            await AssertMirrors(index, expected);
            // nothing changed since
            Assert.Equal(0, (await catalog.Export("gs://catalog-exports/nightly", delta: true)).Datapoints);
            var refused = await Assert.ThrowsAsync<CatalogRequestException>(() => catalog.Export("s3://elsewhere"));
            Assert.Contains("gs://", refused.Message);
            Assert.Equal(CatalogError.Malformed, refused.Error); // 400 through the API
            var fresh = cluster.Client.GetGrain<ICatalogGrain>("t1/export-fresh");
            await fresh.Configure(new CatalogDraft(null, SimilarityMetric.Cosine, Dimensions, 1,
                MatchingEngine: new MatchingEngineSpec(index)));
            Assert.Equal(CatalogError.Conflict, (await Assert.ThrowsAsync<CatalogRequestException>(() =>
                fresh.Export("gs://catalog-exports/x", delta: true))).Error);
        }
        finally { await cluster.DisposeAsync(); }
    }

    [Fact]
    public async Task Routed_queries_merge_with_matching_engine_never_show_stale_hits_and_degrade_on_outages()
    {
        var data = TestPaths.NewTempDirectory("routing");
        var rng = new Random(13);
        var index = await CreateIndexAsync();
        var endpoint = await Vertex.DeployOnNewEndpointAsync(index, "live");
        var cluster = await StartCluster(data);
        try
        {
            var catalog = cluster.Client.GetGrain<ICatalogGrain>("t1/routing");
            await catalog.Configure(new CatalogDraft(null, SimilarityMetric.Cosine, Dimensions, 2,
                MatchingEngine: new MatchingEngineSpec(index, endpoint.Name, "live",
                    QueryRouting: QueryRouting.Hybrid)));
            var live = Enumerable.Range(0, 300).Select(i => Point(rng, $"p{i}")).ToDictionary(p => p.Id);
            await catalog.Upsert(live.Values.ToArray());
            await WaitForEmptyBacklog(catalog, failuresExpected: false);

            var query = Enumerable.Range(0, Dimensions).Select(_ => (float)rng.NextDouble()).ToArray();
            string[] Truth() => live.Values.OrderBy(p => CosineDistance(query, p.FeatureVector)).Take(10).Select(p =>
                p.Id).ToArray();
            SearchQuery Ask(QueryRouting? routing) => new(query, 10, [], [], null, Routing: routing);

            var remote = await catalog.Query(Ask(QueryRouting.MatchingEngine));
            Assert.Equal((QueryRouting.MatchingEngine, false), (remote.Source, remote.Degraded));
            Assert.Equal(Truth(), remote.Hits.Select(h => h.Id));
            var hybrid = await catalog.Query(Ask(null)); // the catalog's routing: hybrid
            Assert.Equal(QueryRouting.Hybrid, hybrid.Source);
            Assert.Equal(Truth(), hybrid.Hits.Select(h => h.Id));

            // Changes that do not reach Matching Engine (its write path is down): the best hit deleted, the second
            // moved far away. Matching Engine still ranks both first; the answers must not.
            await SetFaults(new FaultSettings(ErrorRate: 1, PathContains: "/indexes/"));
            var (deleted, moved) = (Truth()[0], Truth()[1]);
            Assert.True(await catalog.Remove(deleted));
            live.Remove(deleted);
            var far = live[moved] with { FeatureVector = live[moved].FeatureVector.Select(x => -x).ToArray() };
            await catalog.Upsert([far]);
            live[moved] = far;
            foreach (var routing in new[] { QueryRouting.MatchingEngine, QueryRouting.Hybrid })
            {
                var answer = await catalog.Query(Ask(routing));
                Assert.DoesNotContain(answer.Hits, h => h.Id == deleted || h.Id == moved);
                Assert.Equal(Truth(), answer.Hits.Select(h => h.Id).Take(Truth().Length));
            }
            var stale = await Vertex.ReadIndexDatapointsAsync(endpoint.PublicEndpointDomainName!, endpoint.Name!,
                new ReadIndexDatapointsRequest("live", [deleted]));
            Assert.Single(stale.Datapoints!); // Matching Engine really held the stale version
            await SetFaults(new FaultSettings());

            // Outages degrade to the local index, flagged: errors, and answers slower than the query timeout.
            await WaitForEmptyBacklog(catalog, failuresExpected: false);
            await SetFaults(new FaultSettings(ErrorRate: 1, PathContains: ":findNeighbors"));
            var down = await catalog.Query(Ask(QueryRouting.MatchingEngine));
            Assert.Equal((QueryRouting.Local, true), (down.Source, down.Degraded));
            Assert.Contains("Matching Engine failed", down.Warning);
            Assert.Equal(Truth(), down.Hits.Select(h => h.Id));
            await SetFaults(new FaultSettings(LatencyMs: 2_000, PathContains: ":findNeighbors"));
            var slow = await catalog.Query(Ask(QueryRouting.Hybrid));
            Assert.True(slow.Degraded);
            Assert.Contains("no answer within 500 ms", slow.Warning);
            Assert.Equal(Truth(), slow.Hits.Select(h => h.Id));
            await SetFaults(new FaultSettings());
        }
        finally { await cluster.DisposeAsync(); }
    }

    [Fact]
    public async Task Text_goes_to_matching_engine_as_sparse_embeddings_and_fuses_there_with_the_vector()
    {
        var data = TestPaths.NewTempDirectory("routing-text");
        var rng = new Random(17);
        var index = await CreateIndexAsync();
        var endpoint = await Vertex.DeployOnNewEndpointAsync(index, "text");
        var cluster = await StartCluster(data);
        try
        {
            var catalog = cluster.Client.GetGrain<ICatalogGrain>("t1/routing-text");
            await catalog.Configure(new CatalogDraft(null, SimilarityMetric.Cosine, Dimensions, 2,
                MatchingEngine: new MatchingEngineSpec(index, endpoint.Name, "text",
                    QueryRouting: QueryRouting.MatchingEngine)));
            string[] titles = ["Apple cider, sparkling", "Apple pie", "Pear juice", "Cider vinegar", "Green tea"];
            var products = Enumerable.Range(0, 40).Select(i => Point(rng, $"p{i}") with
            {
                AttributesJson = $"{{\"title\":\"{titles[i % titles.Length]} {i}\"}}",
            }).ToArray();
            await catalog.Upsert(products);
            await WaitForEmptyBacklog(catalog, failuresExpected: false);
            var held = await Vertex.ReadIndexDatapointsAsync(endpoint.PublicEndpointDomainName!, endpoint.Name!,
                new ReadIndexDatapointsRequest("text", ["p0"]));
            Assert.Contains(global::Catalogs.Text.SparseEmbedding.TermId("cider"),
                held.Datapoints!.Single().SparseEmbedding!.Dimensions);

            // Text alone: Matching Engine's sparse ranking holds exactly the products whose titles say it.
            var ciders = products.Where((_, i) => i % titles.Length is 0 or 3).Select(p => p.Id).Order().ToArray();
            var remote = await catalog.Query(new SearchQuery([], 20, [], [], null, Text: "ciders"));
            Assert.Equal((QueryRouting.MatchingEngine, false), (remote.Source, remote.Degraded));
            Assert.Equal(ciders, remote.Hits.Select(h => h.Id).Order());
            var local = await catalog.Query(new SearchQuery([], 20, [], [], null, Routing: QueryRouting.Local,
                Text: "ciders"));
            Assert.Equal(ciders, local.Hits.Select(h => h.Id).Order());

            // Text and vector fused there; alpha 1 is the vector ranking alone.
            var query = products[5].FeatureVector;
            var vectorOnly = await catalog.Query(new SearchQuery(query, 5, [], [], null));
            var alphaOne = await catalog.Query(new SearchQuery(query, 5, [], [], null, Text: "apple", RrfAlpha: 1));
            Assert.Equal(vectorOnly.Hits.Select(h => h.Id), alphaOne.Hits.Select(h => h.Id));
            var fused = await catalog.Query(new SearchQuery(query, 5, [], [], null, Text: "apple", RrfAlpha: 0.5));
            // Both rankings as Matching Engine holds them (10 asked: 5 + 5 spare): the vector's exactly, the text's
            // with every apple title scoring alike (one term, frequency 1), ties by id; fused at ranks 1, 2, ….
            var dense = products.OrderBy(p => CosineDistance(query, p.FeatureVector)).Take(10).Select(p => p.Id)
                .ToList();
            var apples = products.Where((_, i) => i % titles.Length is 0 or 1).Select(p => p.Id)
                .Order(StringComparer.Ordinal).Take(10).ToList();
            var expected = dense.Concat(apples).Distinct().Select(id => (Id: id, Score:
                (dense.IndexOf(id) is var d and >= 0 ? 0.5 / (61 + d) : 0) +
                (apples.IndexOf(id) is var t and >= 0 ? 0.5 / (61 + t) : 0)))
                .OrderByDescending(x => x.Score).ThenBy(x => x.Id, StringComparer.Ordinal).Take(5).Select(x => x.Id);
            Assert.Equal(expected, fused.Hits.Select(h => h.Id));

            // A product deleted while Matching Engine's writes fail is still there, never in an answer.
            await SetFaults(new FaultSettings(ErrorRate: 1, PathContains: "/indexes/"));
            Assert.True(await catalog.Remove(ciders[0]));
            var after = await catalog.Query(new SearchQuery([], 20, [], [], null, Text: "ciders"));
            Assert.Equal(ciders.Skip(1), after.Hits.Select(h => h.Id).Order());
            await SetFaults(new FaultSettings());
        }
        finally { await cluster.DisposeAsync(); }
    }

    static double CosineDistance(float[] a, float[] b)
    {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
        return 1 - dot / Math.Sqrt(na * nb);
    }

    static async Task<ShardStats[]> WaitForEmptyBacklog(ICatalogGrain catalog, bool failuresExpected)
    {
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (true)
        {
            var shards = (await catalog.GetInfo())!.Shards.ToArray();
            if (shards.All(s => s.Sync is { Backlog: 0 })) return shards;
            Assert.True(DateTime.UtcNow < deadline, "backlog did not drain: " + string.Join("; ", shards.Select(s =>
                $"{s.Sync?.Backlog} waiting, last error {s.Sync?.LastError}")));
            await Task.Delay(100);
        }
    }

    /// <summary>Matching Engine holds exactly <paramref name="expected"/>: same ids, vectors and restricts.</summary>
    async Task AssertMirrors(string index, Dictionary<string, Datapoint> expected)
    {
        await SetFaults(new FaultSettings());
        Assert.Equal(expected.Count, (await Vertex.GetIndexAsync(index)).IndexStats!.VectorsCount);
        var endpoint = await Vertex.DeployOnNewEndpointAsync(index, "check");
        var read = await Vertex.ReadIndexDatapointsAsync(endpoint.PublicEndpointDomainName!, endpoint.Name!,
            new ReadIndexDatapointsRequest("check", expected.Keys.ToArray()));
        Assert.Equal(expected.Count, read.Datapoints!.Count);
        foreach (var mirrored in read.Datapoints!)
        {
            var local = expected[mirrored.DatapointId];
            Assert.Equal(local.FeatureVector, mirrored.FeatureVector);
            Assert.Equal(local.Restricts[0].AllowList, mirrored.Restricts![0].AllowList);
            Assert.Equal(local.NumericRestricts[0].ValueInt, mirrored.NumericRestricts![0].ValueInt);
            Assert.Equal(local.CrowdingTag, mirrored.CrowdingTag?.CrowdingAttribute);
        }
    }
}
