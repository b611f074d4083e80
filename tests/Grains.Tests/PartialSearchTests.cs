using Catalogs.Grains.Catalogs;
using Catalogs.Tests;
using Orleans.Runtime;

namespace Catalogs.Grains.Tests;

/// <summary>A search that cannot reach every shard says so: the hits of the others, and the missing shards
/// named.</summary>
public class PartialSearchTests
{
    static Datapoint Point(string id, float x) => new(id, [x, 1], [], [], null, null, DateTimeOffset.UtcNow);

    [Fact]
    public async Task A_shard_that_cannot_load_is_named_and_the_others_answer()
    {
        var data = TestPaths.NewTempDirectory("partial");
        var cluster = await CatalogTestCluster.StartAsync(new()
        {
            ["Catalogs:DataPath"] = data,
            ["Catalogs:ModelPaths:0"] = TestPaths.ModelsDirectory,
            ["Catalogs:SnapshotEveryRecords"] = "2",
        }, silos: 1);
        try
        {
            var catalog = cluster.Client.GetGrain<ICatalogGrain>("t1/partial");
            await catalog.Configure(new CatalogDraft(null, SimilarityMetric.SquaredL2, 2, 3));
            for (int i = 0; i < 30; i++) await catalog.Upsert([Point($"p{i}", i)]);
            var whole = await catalog.Query(new SearchQuery([3, 1], 30, [], [], null));
            Assert.False(whole.Partial);
            Assert.Equal(30, whole.Hits.Length);

            // Shard 1 loses every snapshot (and its log was truncated by them): it can no longer load.
            await cluster.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
            var shardDirectory = Path.Combine(Directory.GetDirectories(Path.Combine(data, "shards", "t1", "partial"))
                .Single(), "1");
            foreach (var snapshot in Directory.GetFiles(shardDirectory, "snapshot-*"))
                await File.WriteAllTextAsync(snapshot, "damaged");

            var partial = await catalog.Query(new SearchQuery([3, 1], 30, [], [], null));
            Assert.True(partial.Partial);
            Assert.Equal([1], partial.MissingShards!);
            var onShard1 = Enumerable.Range(0, 30).Select(i => $"p{i}").Where(id => CatalogGrain.ShardOf(id, 3) == 1)
                .ToHashSet();
            Assert.Equal(30 - onShard1.Count, partial.Hits.Length);
            Assert.DoesNotContain(partial.Hits, h => onShard1.Contains(h.Id));
            // The call whose answer cannot say "partial" refuses instead of being silently partial.
            var refused = await Assert.ThrowsAsync<CatalogRequestException>(() =>
                catalog.Search(new SearchQuery([3, 1], 5, [], [], null)));
            Assert.Equal(CatalogError.Unavailable, refused.Error);
            Assert.Contains("1", refused.Message);
        }
        finally { await cluster.DisposeAsync(); }
    }
}
