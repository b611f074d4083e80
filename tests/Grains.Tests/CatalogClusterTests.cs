using Catalogs.Tests;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace Catalogs.Grains.Tests;

/// <summary>The grains on a real two-silo in-process cluster sharing one data folder, as silos share a store.</summary>
public class CatalogClusterTests
{
    static Task<InProcessTestCluster> StartCluster(string dataPath, int silos = 2, string indexSnapshotMinInterval =
        "00:00:00", string reembeddingBatchPause = "00:00:00")
    {
        var settings = new Dictionary<string, string?>
        {
            ["Catalogs:DataPath"] = dataPath,
            ["Catalogs:SnapshotEveryRecords"] = "50",
            ["Catalogs:IndexSnapshotMinInterval"] = indexSnapshotMinInterval,
            ["Catalogs:ModelPaths:0"] = TestPaths.ModelsDirectory,
            ["Catalogs:ReembeddingBatchPause"] = reembeddingBatchPause,
        };
        return CatalogTestCluster.StartAsync(settings, silos);
    }

    static Datapoint Point(string id, float[] v, string color) =>
        new(id, v, [new Restrict("color", [color], [])], [new NumericRestrict("n", ValueInt: int.Parse(id[1..]))],
            color, null, DateTimeOffset.UtcNow);

    static float[] Vector(Random rng) => Enumerable.Range(0, 6).Select(_ => (float)rng.NextDouble()).ToArray();

    static double Cosine(float[] a, float[] b)
    {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
        return 1 - dot / Math.Sqrt(na * nb);
    }

    [Fact]
    public async Task Sharded_catalog_survives_a_killed_silo_and_a_full_restart()
    {
        var data = TestPaths.NewTempDirectory("cluster");
        var rng = new Random(11);
        var points = Enumerable.Range(0, 300).Select(i => Point($"p{i}", Vector(rng), i % 2 == 0 ? "red"
            : "blue")).ToList();
        var query = Vector(rng);
        var expected = points.Where(p => p.Restricts[0].AllowList[0] == "red").OrderBy(p => Cosine(query,
            p.FeatureVector)).Take(10).Select(p => p.Id).ToArray();
        var search = new SearchQuery(query, 10, [new Restrict("color", ["red"], [])], [], null);

        var cluster = await StartCluster(data);
        try
        {
            var catalog = cluster.Client.GetGrain<ICatalogGrain>("t1/shoes");
            var info = await catalog.Configure(new CatalogDraft(null, SimilarityMetric.Cosine, 6, 4));
            Assert.Equal(4, info.Shards.Count);
            foreach (var chunk in points.Chunk(40)) await catalog.Upsert(chunk);
            Assert.True(await catalog.Remove("p299"));
            Assert.False(await catalog.Remove("p299"));
            points.RemoveAt(299);

            Assert.Equal(expected, (await catalog.Search(search)).Select(h => h.Id));
            var stats = (await catalog.GetInfo())!;
            Assert.Equal(299, stats.Products);
            Assert.Contains(stats.Shards, s => s.SnapshotSequence > 0); // snapshots were taken along the way

            // Kill the second silo abruptly: its shards come back on the survivor from their logs and snapshots.
            // Until the silo is declared dead, calls to its shards fail or time out: retried, as ApiHost does.
            await cluster.KillSiloAsync(cluster.Silos[1]);
            var afterKill = await Eventually.SucceedsAsync(() => catalog.Search(search), Unavailability.IsTransient);
            Assert.Equal(expected, afterKill.Select(h => h.Id));
            Assert.Equal(299, (await Eventually.SucceedsAsync(() => catalog.GetInfo(),
                Unavailability.IsTransient))!.Products);
        }
        finally { await cluster.DisposeAsync(); }

        var restarted = await StartCluster(data, silos: 1);
        try
        {
            var catalog = restarted.Client.GetGrain<ICatalogGrain>("t1/shoes");
            Assert.Equal(299, (await catalog.GetInfo())!.Products);
            Assert.Equal(expected, (await catalog.Search(search)).Select(h => h.Id));
            Assert.Equal(points[7].FeatureVector, (await catalog.Get("p7"))!.FeatureVector);
            Assert.Null(await catalog.Get("p299"));
            Assert.Equal(["shoes"], await restarted.Client.GetGrain<ITenantGrain>("t1").List());
        }
        finally { await restarted.DisposeAsync(); }
    }

    [Fact]
    public async Task A_re_embedding_cut_off_by_a_crash_goes_on_after_the_restart_and_switches()
    {
        var data = TestPaths.NewTempDirectory("reembed-crash");
        var rng = new Random(5);
        var points = Enumerable.Range(0, 1000).Select(i => Point($"p{i}", Vector(rng), "red")).ToArray();
        var cluster = await StartCluster(data, silos: 1, reembeddingBatchPause: "00:00:00.100");
        try
        {
            var catalog = cluster.Client.GetGrain<ICatalogGrain>("t1/moving");
            await catalog.Configure(new CatalogDraft(null, SimilarityMetric.Cosine, 6, 1));
            foreach (var chunk in points.Chunk(250)) await catalog.Upsert(chunk);
            var started = await catalog.Configure(new CatalogDraft(null, SimilarityMetric.Cosine, 6, 3));
            Assert.Equal(ReembeddingPhase.Copying, started.Reembedding?.Phase);
            await Task.Delay(500);
            Assert.Equal(ReembeddingPhase.Copying, (await catalog.GetInfo())!.Reembedding?.Phase);
            await cluster.KillSiloAsync(cluster.Silos[0]);
        }
        finally { await cluster.DisposeAsync(); }

        var restarted = await StartCluster(data, silos: 1);
        try
        {
            var catalog = restarted.Client.GetGrain<ICatalogGrain>("t1/moving");
            var info = (await catalog.GetInfo())!;
            Assert.Equal(1, info.Spec.Shards); // still the old version, serving
            Assert.Equal(1000, info.Products);
            for (var deadline = DateTime.UtcNow.AddMinutes(1); info.Reembedding?.Phase == ReembeddingPhase.Copying
                && DateTime.UtcNow < deadline; await Task.Delay(50))
                info = (await catalog.GetInfo())!;
            Assert.Equal(ReembeddingPhase.Switched, info.Reembedding?.Phase);
            Assert.Equal(3, info.Shards.Count);
            Assert.Equal(1000, info.Products);
            foreach (var p in points.Take(100))
                Assert.Equal(p.Id, (await catalog.Search(new SearchQuery(p.FeatureVector, 1, [], [], null)))[0].Id);
        }
        finally { await restarted.DisposeAsync(); }
    }

    [Fact]
    public async Task A_restarted_shard_loads_its_saved_graph_and_reconciles_what_changed_after_it()
    {
        var data = TestPaths.NewTempDirectory("index-snapshot");
        var rng = new Random(21);
        // Enough points per shard (> 2,000) that searches walk the graph rather than scan.
        var live = Enumerable.Range(0, 5000).Select(i => Point($"p{i}", Vector(rng), "red")).ToDictionary(p => p.Id);
        const string never = "01:00:00"; // graphs are saved only when shards deactivate

        var first = await StartCluster(data, silos: 1, indexSnapshotMinInterval: never);
        try
        {
            var catalog = first.Client.GetGrain<ICatalogGrain>("t1/bags");
            await catalog.Configure(new CatalogDraft(null, SimilarityMetric.Cosine, 6, 2));
            foreach (var chunk in live.Values.Chunk(500)) await catalog.Upsert(chunk);
            Assert.All((await catalog.GetInfo())!.Shards, s => Assert.Equal("built", s.IndexOrigin));
        }
        finally { await first.DisposeAsync(); } // graceful: every shard saves its graph as it deactivates
        var saved = Directory.GetFiles(data, "index.hnsw", SearchOption.AllDirectories);
        Assert.Equal(2, saved.Length);
        foreach (var file in saved) File.Copy(file, file + ".older");

        var second = await StartCluster(data, silos: 1, indexSnapshotMinInterval: never);
        var catalog2 = second.Client.GetGrain<ICatalogGrain>("t1/bags");
        var updated = live.Keys.Take(10).ToList();
        var deleted = live.Keys.Skip(10).Take(10).ToList();
        var oldVectors = deleted.ToDictionary(id => id, id => live[id].FeatureVector);
        try
        {
            Assert.All((await catalog2.GetInfo())!.Shards, s =>
                { Assert.Equal("snapshot", s.IndexOrigin); Assert.Equal(0, s.IndexReconciled); });
            // Changes after the saved graphs.
            var added = Enumerable.Range(5000, 30).Select(i => Point($"p{i}", Vector(rng), "red")).ToList();
            var changed = updated.Select(id => Point(id, Vector(rng), "blue")).ToList();
            await catalog2.Upsert([.. added, .. changed]);
            foreach (var p in added.Concat(changed)) live[p.Id] = p;
            foreach (var id in deleted) { Assert.True(await catalog2.Remove(id)); live.Remove(id); }
        }
        finally { await second.DisposeAsync(); }
        // As after a crash: the graphs on disk predate the last changes (the in-process silo deactivates its grains
        // even when killed, so the older graphs are put back instead).
        foreach (var file in saved) File.Copy(file + ".older", file, overwrite: true);

        var third = await StartCluster(data, silos: 1, indexSnapshotMinInterval: never);
        try
        {
            var catalog = third.Client.GetGrain<ICatalogGrain>("t1/bags");
            var info = (await catalog.GetInfo())!;
            Assert.Equal(live.Count, info.Products);
            Assert.All(info.Shards, s => Assert.Equal("snapshot", s.IndexOrigin));
            Assert.Equal(30 + 10 + 10, info.Shards.Sum(s => s.IndexReconciled)); // added, updated, deleted
            foreach (var id in updated)
            {
                var hits = await catalog.Search(new SearchQuery(live[id].FeatureVector, 1, [new Restrict("color",
                    ["blue"], [])], [], null));
                Assert.Equal(id, Assert.Single(hits).Id); // the new vector and the new attributes are indexed
            }
            foreach (var (id, vector) in oldVectors)
                Assert.DoesNotContain(await catalog.Search(new SearchQuery(vector, 10, [], [], null)), h => h.Id == id);
            // And the graph still finds the true neighbours.
            int found = 0;
            for (int q = 0; q < 20; q++)
            {
                var query = Vector(rng);
                var truth = live.Values.OrderBy(p => Cosine(query, p.FeatureVector)).Take(10).Select(p =>
                    p.Id).ToHashSet();
                found += (await catalog.Search(new SearchQuery(query, 10, [], [], null))).Count(h =>
                    truth.Contains(h.Id));
            }
            Assert.True(found >= 190, $"recall@10 {found / 200.0:F3}");
        }
        finally { await third.DisposeAsync(); }

        // A damaged graph is not trusted: the shard rebuilds from its products.
        foreach (var file in saved)
        {
            var bytes = File.ReadAllBytes(file);
            bytes[bytes.Length / 2] ^= 0x40;
            File.WriteAllBytes(file, bytes);
        }
        var fourth = await StartCluster(data, silos: 1, indexSnapshotMinInterval: never);
        try
        {
            var info = (await fourth.Client.GetGrain<ICatalogGrain>("t1/bags").GetInfo())!;
            Assert.Equal(live.Count, info.Products);
            Assert.All(info.Shards, s => Assert.Equal("built", s.IndexOrigin));
        }
        finally { await fourth.DisposeAsync(); }
    }

    [Fact]
    public async Task Refusals_cross_the_wire_with_their_kind()
    {
        var cluster = await StartCluster(TestPaths.NewTempDirectory("cluster-errors"), silos: 1);
        try
        {
            var catalog = cluster.Client.GetGrain<ICatalogGrain>("t1/errors");
            var missing = await Assert.ThrowsAsync<CatalogRequestException>(() => catalog.Search(new SearchQuery([1, 2],
                1, [], [], null)));
            Assert.Equal(CatalogError.NotFound, missing.Error);

            await catalog.Configure(new CatalogDraft(null, SimilarityMetric.Dot, 2, 2));
            var wrong = await Assert.ThrowsAsync<CatalogRequestException>(() => catalog.Upsert([Point("p1", [1, 2, 3],
                "red")]));
            Assert.Equal(CatalogError.Invalid, wrong.Error);
            Assert.Contains("3 dimensions", wrong.Message);

            await catalog.Upsert([Point("p1", [1, 2], "red")]);
            // Another shard count re-embeds (here: copies the vectors) into a new version, then switches.
            var moving = await catalog.Configure(new CatalogDraft(null, SimilarityMetric.Dot, 2, 3));
            Assert.Equal(2, moving.Spec.Shards);
            Assert.Equal(ReembeddingPhase.Copying, moving.Reembedding?.Phase);
            var moved = moving;
            for (var deadline = DateTime.UtcNow.AddMinutes(1); moved.Reembedding?.Phase == ReembeddingPhase.Copying
                && DateTime.UtcNow < deadline; await Task.Delay(50))
                moved = (await catalog.GetInfo())!;
            Assert.Equal(ReembeddingPhase.Switched, moved.Reembedding?.Phase);
            Assert.Equal(3, moved.Spec.Shards);
            Assert.Equal(2, moved.Previous?.Spec.Shards);
            Assert.Equal(["p1"], (await catalog.Search(new SearchQuery([1, 2], 5, [], [], null))).Select(h => h.Id));
            var conflict = await Assert.ThrowsAsync<CatalogRequestException>(() => catalog.Configure(new CatalogDraft(
                new EncoderDraft("mobilenetv2-12-int8.onnx", Output: "464_quantized"), SimilarityMetric.Dot, null, 3)));
            Assert.Equal(CatalogError.Conflict, conflict.Error);
            Assert.Contains("no stored image", conflict.Message);

            // Encoder defaults are resolved against the model by the stateless encoder grain.
            var described =
                await cluster.Client.GetGrain<IEncoderGrain>(0).Describe(new EncoderDraft("mobilenetv2-12-int8.onnx",
                Output: "464_quantized"));
            Assert.Equal(1280, described.Dimensions);
            Assert.Equal("input", described.Spec.Input);
            Assert.True(described.Spec.Dequantize);

            // Dropping and re-creating a catalog starts from nothing (a new incarnation of its shards).
            Assert.True(await catalog.Drop());
            await catalog.Configure(new CatalogDraft(null, SimilarityMetric.Dot, 2, 2));
            Assert.Null(await catalog.Get("p1"));
            Assert.Equal(0, (await catalog.GetInfo())!.Products);
        }
        finally { await cluster.DisposeAsync(); }
    }
}
