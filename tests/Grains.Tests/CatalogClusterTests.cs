using Catalogs.Tests;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace Catalogs.Grains.Tests;

/// <summary>The grains on a real two-silo in-process cluster sharing one data folder, as silos share a store.</summary>
public class CatalogClusterTests
{
    static async Task<InProcessTestCluster> StartCluster(string dataPath, int silos = 2)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Catalogs:DataPath"] = dataPath,
            ["Catalogs:SnapshotEveryRecords"] = "50",
            ["Catalogs:ModelPaths:0"] = TestPaths.ModelsDirectory,
        };
        var builder = new InProcessTestClusterBuilder((short)silos);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.Services.AddCatalogsSiloServices(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
            silo.AddCatalogsFileStorage();
        });
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return cluster;
    }

    static Datapoint Point(string id, float[] v, string color) =>
        new(id, v, [new Restrict("color", [color], [])], [new NumericRestrict("n", ValueInt: int.Parse(id[1..]))], color, null, DateTimeOffset.UtcNow);

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
        var points = Enumerable.Range(0, 300).Select(i => Point($"p{i}", Vector(rng), i % 2 == 0 ? "red" : "blue")).ToList();
        var query = Vector(rng);
        var expected = points.Where(p => p.Restricts[0].AllowList[0] == "red").OrderBy(p => Cosine(query, p.FeatureVector)).Take(10).Select(p => p.Id).ToArray();
        var search = new SearchQuery(query, 10, [new Restrict("color", ["red"], [])], [], null);

        var cluster = await StartCluster(data);
        try
        {
            var catalog = cluster.Client.GetGrain<ICatalogGrain>("t1/shoes");
            var info = await catalog.Configure(new CatalogDraft(null, "cosine", 6, 4));
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
            await cluster.KillSiloAsync(cluster.Silos[1]);
            Assert.Equal(expected, (await catalog.Search(search)).Select(h => h.Id));
            Assert.Equal(299, (await catalog.GetInfo())!.Products);
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
    public async Task Refusals_cross_the_wire_with_their_kind()
    {
        var cluster = await StartCluster(TestPaths.NewTempDirectory("cluster-errors"), silos: 1);
        try
        {
            var catalog = cluster.Client.GetGrain<ICatalogGrain>("t1/errors");
            var missing = await Assert.ThrowsAsync<CatalogRequestException>(() => catalog.Search(new SearchQuery([1, 2], 1, [], [], null)));
            Assert.Equal(CatalogError.NotFound, missing.Error);

            await catalog.Configure(new CatalogDraft(null, "dot", 2, 2));
            var wrong = await Assert.ThrowsAsync<CatalogRequestException>(() => catalog.Upsert([Point("p1", [1, 2, 3], "red")]));
            Assert.Equal(CatalogError.Invalid, wrong.Error);
            Assert.Contains("3 dimensions", wrong.Message);

            await catalog.Upsert([Point("p1", [1, 2], "red")]);
            var conflict = await Assert.ThrowsAsync<CatalogRequestException>(() => catalog.Configure(new CatalogDraft(null, "dot", 2, 3)));
            Assert.Equal(CatalogError.Conflict, conflict.Error);
            Assert.Contains("shards", conflict.Message);

            // Encoder defaults are resolved against the model by the stateless encoder grain.
            var described = await cluster.Client.GetGrain<IEncoderGrain>(0).Describe(new EncoderDraft("mobilenetv2-12-int8.onnx", Output: "464_quantized"));
            Assert.Equal(1280, described.Dimensions);
            Assert.Equal("input", described.Spec.Input);
            Assert.True(described.Spec.Dequantize);

            // Dropping and re-creating a catalog starts from nothing (a new incarnation of its shards).
            Assert.True(await catalog.Drop());
            await catalog.Configure(new CatalogDraft(null, "dot", 2, 2));
            Assert.Null(await catalog.Get("p1"));
            Assert.Equal(0, (await catalog.GetInfo())!.Products);
        }
        finally { await cluster.DisposeAsync(); }
    }
}
