using Catalogs.VectorIndex;

namespace Catalogs.VectorIndex.Tests;

/// <summary>Both index kinds behind the one interface: bulk insert, enumeration, reconciliation, save and
/// load.</summary>
public class IndexInterfaceTests
{
    static readonly PointAttributes Red = new([new TokenRestrict("color", ["red"], [])], [new NumericValue("price", 3)], "brand-a");

    public static TheoryData<string> Kinds => ["exact", "hnsw"];

    static IVectorIndex Create(string kind) => kind == "exact"
        ? new ExactIndex(8, DistanceMetric.Cosine)
        : new HnswIndex(8, DistanceMetric.Cosine, new HnswOptions(M: 8, EfConstruction: 64, EfSearch: 64));

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Saved_indexes_load_back_with_the_same_points_and_answers(string kind)
    {
        var random = new Random(3);
        var points = Enumerable.Range(0, 300).Select(i =>
            ($"p{i}", Enumerable.Range(0, 8).Select(_ => (float)random.NextDouble() - 0.5f).ToArray(), i % 2 == 0 ? Red : PointAttributes.None))
            .ToList();
        var index = Create(kind);
        index.UpsertMany(points);
        index.Remove("p7");
        Assert.Equal(299, index.Ids().Count);
        Assert.True(index.Capacity >= 299);
        Assert.True(index.Memory.Total > 299L * 8 * sizeof(float));
        Assert.True(index.Holds("p2", points[2].Item2, Red));
        Assert.False(index.Holds("p2", points[3].Item2, Red));
        Assert.False(index.Holds("p2", points[2].Item2, PointAttributes.None));

        var saved = new MemoryStream();
        index.Save(saved);
        saved.Position = 0;
        var loaded = VectorIndexes.Load(saved);
        Assert.True(index.SameConfiguration(loaded));
        Assert.False(Create(kind == "exact" ? "hnsw" : "exact").SameConfiguration(loaded));
        Assert.Equal(index.Ids().Order(), loaded.Ids().Order());
        Assert.True(loaded.Holds("p4", points[4].Item2, Red));
        var query = points[10].Item2;
        var options = new SearchOptions(10, new SearchFilter([new TokenRestrict("color", ["red"], [])], []));
        Assert.Equal(index.Search(query, options).Select(n => n.Id), loaded.Search(query, options).Select(n => n.Id));

        var damaged = saved.ToArray();
        damaged[damaged.Length / 2] ^= 0x5A;
        Assert.ThrowsAny<IndexSnapshotException>(() => VectorIndexes.Load(new MemoryStream(damaged)));
        Assert.ThrowsAny<IndexSnapshotException>(() => VectorIndexes.Load(new MemoryStream(damaged[..20])));
    }
}
