using Catalogs.Shards.Storage;
using Catalogs.Tests;
using Orleans.TestingHost;

namespace Catalogs.Grains.Tests;

/// <summary>A shard activation that lost its store's lease never acknowledges again: it answers 503, retires, and the
/// next call activates the shard anew, which replays its log.</summary>
public class FencedShardTests
{
    static Datapoint Point(string id, float x) => new(id, [x, 1], [], [], null, null, DateTimeOffset.UtcNow);

    [Fact]
    public async Task A_shard_whose_lease_was_taken_answers_503_then_recovers_with_every_acknowledged_write()
    {
        var data = TestPaths.NewTempDirectory("fenced");
        var cluster = await CatalogTestCluster.StartAsync(new()
        {
            ["Catalogs:DataPath"] = data,
            ["Catalogs:ModelPaths:0"] = TestPaths.ModelsDirectory,
        }, silos: 1);
        try
        {
            var catalog = cluster.Client.GetGrain<ICatalogGrain>("t1/fenced");
            await catalog.Configure(new CatalogDraft(null, SimilarityMetric.Cosine, 2, 1));
            var acknowledged = new List<string>();
            for (int i = 0; i < 10; i++)
            {
                await catalog.Upsert([Point($"p{i}", i)]);
                acknowledged.Add($"p{i}");
            }
            // Another writer takes the shard's store over, as a second activation on a partitioned silo would.
            var shardDirectory = Directory.GetDirectories(Path.Combine(data, "shards", "t1", "fenced")).Single();
            var intruder = await new LocalShardStore(Path.Combine(shardDirectory, "0")).OpenWriterAsync(default);

            var refused = await Assert.ThrowsAsync<CatalogRequestException>(() => catalog.Upsert([Point("never", 5)]));
            Assert.Equal(CatalogError.Unavailable, refused.Error);
            await intruder.DisposeAsync();

            // The next calls reach a new activation, which takes the lease again and replays the log.
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (true)
            {
                try
                {
                    await catalog.Upsert([Point("after", 20)]);
                    break;
                }
                catch (CatalogRequestException ex) when (ex.Error == CatalogError.Unavailable
                    && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(100);
                }
            }
            acknowledged.Add("after");
            foreach (var id in acknowledged) Assert.NotNull(await catalog.Get(id));
            Assert.Null(await catalog.Get("never"));
            Assert.Equal(acknowledged.Count, (await catalog.GetInfo())!.Products);
        }
        finally { await cluster.DisposeAsync(); }
    }
}
