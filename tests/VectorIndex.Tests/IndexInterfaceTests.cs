using Catalogs.VectorIndex;

namespace Catalogs.VectorIndex.Tests;

/// <summary>Both index kinds behind the one interface: bulk insert, enumeration, reconciliation, save and
/// load.</summary>
public class IndexInterfaceTests
{
    static readonly PointAttributes Red = new([new TokenRestrict("color", ["red"], [])], [new NumericValue("price", 3)],
        "brand-a");

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
            ($"p{i}", Enumerable.Range(0, 8).Select(_ => (float)random.NextDouble() - 0.5f).ToArray(), i % 2 == 0 ? Red
                : PointAttributes.None))
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

    public static TheoryData<string> Layouts => ["exact", "hnsw", "hnsw-int8", "hnsw-int8-mapped"];

    static IVectorIndex Create(string layout, string? rerank) => layout switch
    {
        "exact" => new ExactIndex(16, DistanceMetric.Cosine),
        "hnsw" => new HnswIndex(16, DistanceMetric.Cosine, new HnswOptions(M: 8, EfConstruction: 64, EfSearch: 64)),
        _ => new HnswIndex(16, DistanceMetric.Cosine, new HnswOptions(M: 8, EfConstruction: 64, EfSearch: 64,
            ExactBelowMatches: 0, Quantization: VectorQuantization.Int8, QuantizeAfter: 100, RerankDirectory: rerank)),
    };

    [Theory]
    [MemberData(nameof(Layouts))]
    public void Cosine_indexes_hand_back_each_vector_exactly_as_given_and_rank_by_the_true_cosine(string layout)
    {
        var rerank = layout.EndsWith("mapped") ? TestDirectory() : null;
        var random = new Random(11);
        // Norms from 0.001 to 1000: a normalised copy would not give these back.
        var points = Enumerable.Range(0, 400).Select(i =>
        {
            float scale = MathF.Pow(10, i % 7 - 3);
            return ($"p{i}", Enumerable.Range(0, 16).Select(_ => scale * ((float)random.NextDouble() - 0.5f)).ToArray(),
                PointAttributes.None);
        }).ToList();
        var index = Create(layout, rerank);
        index.UpsertMany(points);
        if (index is HnswIndex hnsw && layout != "hnsw") Assert.NotNull(hnsw.Quantizer);
        foreach (var (id, vector, _) in points) Assert.Equal(vector, index.Vector(id));
        Assert.Null(index.Vector("absent"));
        Assert.True(index.Holds("p5", points[5].Item2, PointAttributes.None));

        var query = points[42].Item2.Select(x => x * 3).ToArray();
        foreach (var hit in index.Search(query, new SearchOptions(20)))
        {
            var v = points.Single(p => p.Item1 == hit.Id).Item2;
            double dot = 0, qq = 0, vv = 0;
            for (int i = 0; i < 16; i++) { dot += query[i] * v[i]; qq += query[i] * query[i]; vv += v[i] * v[i]; }
            Assert.Equal(1 - dot / Math.Sqrt(qq * vv), hit.Distance, 1e-5);
        }
        Assert.Equal("p42", index.Search(query, new SearchOptions(1)).Single().Id);

        index.Upsert("p7", points[8].Item2, PointAttributes.None);
        Assert.Equal(points[8].Item2, index.Vector("p7"));
        index.Remove("p9");
        Assert.Null(index.Vector("p9"));

        var saved = new MemoryStream();
        index.Save(saved);
        saved.Position = 0;
        var loaded = layout == "exact" ? VectorIndexes.Load(saved) : HnswIndex.Load(saved, rerank);
        Assert.Equal(points[3].Item2, loaded.Vector("p3"));
        Assert.Equal(points[8].Item2, loaded.Vector("p7"));
        Assert.Equal(index.Search(query, new SearchOptions(10)).Select(n => n.Id),
            loaded.Search(query, new SearchOptions(10)).Select(n => n.Id));
        (index as IDisposable)?.Dispose();
        (loaded as IDisposable)?.Dispose();
    }

    static string TestDirectory()
    {
        var dir = Path.Combine(Path.GetTempPath(), "catalogs-tests", "rerank-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }
}
