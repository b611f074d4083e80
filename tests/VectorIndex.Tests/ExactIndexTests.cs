namespace Catalogs.VectorIndex.Tests;

public class ExactIndexTests
{
    static float[] RandomVector(Random rng, int d) => Enumerable.Range(0, d).Select(_ =>
        (float)(rng.NextDouble() * 2 - 1)).ToArray();

    static double Naive(DistanceMetric metric, float[] a, float[] b)
    {
        switch (metric)
        {
            case DistanceMetric.Cosine:
                double dot = 0, na = 0, nb = 0;
                for (int i = 0; i < a.Length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
                return 1 - dot / Math.Sqrt(na * nb);
            case DistanceMetric.DotProduct: return -a.Zip(b, (x, y) => (double)x * y).Sum();
            case DistanceMetric.SquaredL2: return a.Zip(b, (x, y) => (double)(x - y) * (x - y)).Sum();
            default: return a.Zip(b, (x, y) => Math.Abs((double)x - y)).Sum();
        }
    }

    [Theory]
    [InlineData(DistanceMetric.Cosine, 37)]
    [InlineData(DistanceMetric.DotProduct, 64)]
    [InlineData(DistanceMetric.SquaredL2, 1280)]
    [InlineData(DistanceMetric.L1, 5)]
    public void Search_returns_the_true_nearest_neighbours_best_first(DistanceMetric metric, int d)
    {
        var rng = new Random(1);
        using var index = new ExactIndex(d, metric);
        var points = Enumerable.Range(0, 300).ToDictionary(i => $"p{i}", _ => RandomVector(rng, d));
        foreach (var (id, v) in points) index.Upsert(id, v, PointAttributes.None);
        var q = RandomVector(rng, d);
        var hits = index.Search(q, new SearchOptions(10));
        var expected = points.OrderBy(p => Naive(metric, q, p.Value)).Take(10).ToList();
        Assert.Equal(expected.Select(p => p.Key), hits.Select(h => h.Id));
        for (int i = 0; i < hits.Count; i++)
            Assert.Equal(Naive(metric, q, expected[i].Value), hits[i].Distance, Math.Max(1e-3,
                Math.Abs(hits[i].Distance) * 1e-4));
    }

    [Fact]
    public void Removed_points_are_never_returned_and_updated_points_return_their_new_vector()
    {
        using var index = new ExactIndex(2, DistanceMetric.SquaredL2);
        index.Upsert("a", [0, 0], PointAttributes.None);
        index.Upsert("b", [1, 0], PointAttributes.None);
        index.Upsert("c", [5, 5], PointAttributes.None);
        Assert.True(index.Remove("a"));
        Assert.False(index.Remove("a"));
        index.Upsert("c", [0.1f, 0], PointAttributes.None);
        var hits = index.Search([0, 0], new SearchOptions(3));
        Assert.Equal(["c", "b"], hits.Select(h => h.Id));
        Assert.Equal(0.01f, hits[0].Distance, 1e-6f);
    }

    [Fact]
    public void Churn_reuses_slots_instead_of_growing()
    {
        using var index = new ExactIndex(4, DistanceMetric.Cosine);
        var rng = new Random(2);
        for (int round = 0; round < 50; round++)
        {
            for (int i = 0; i < 100; i++) index.Upsert($"{round}-{i}", RandomVector(rng, 4), PointAttributes.None);
            for (int i = 0; i < 100; i++) index.Remove($"{round}-{i}");
        }
        Assert.Equal(0, index.Count);
        Assert.Empty(index.Search([1, 0, 0, 0], new SearchOptions(5)));
    }

    [Fact]
    public void Restricts_follow_vertex_semantics()
    {
        using var index = new ExactIndex(1, DistanceMetric.SquaredL2);
        PointAttributes A(string? color, string[]? deny = null, double? price = null) => new(
            color is null ? [] : [new TokenRestrict("color", [color], deny ?? [])],
            price is null ? [] : [new NumericValue("price", price.Value)], null);
        index.Upsert("red", [0], A("red", price: 10));
        index.Upsert("blue", [1], A("blue", price: 20));
        index.Upsert("none", [2], A(null));
        index.Upsert("green-no-red", [3], A("green", deny: ["red"], price: 30));

        string[] Ids(SearchFilter f) => index.Search([0], new SearchOptions(10, f)).Select(h => h.Id).ToArray();
        SearchFilter Tokens(string[] allow, string[] deny) => new([new TokenRestrict("color", allow, deny)], []);
        SearchFilter Price(NumericOp op, double v) => new([], [new NumericCondition("price", op, v)]);

        Assert.Equal(["red", "blue"], Ids(Tokens(["red", "blue"], [])));
        // A point without the namespace fails an allow list but passes a deny-only restrict.
        Assert.Equal(["blue", "none", "green-no-red"], Ids(Tokens([], ["red"])));
        // A point's own deny list excludes it from queries that allow a denied token.
        Assert.Equal(["red"], Ids(Tokens(["red", "green"], [])).Where(id => id != "blue").ToArray());
        Assert.Equal(["green-no-red"], Ids(Tokens(["green"], [])));
        Assert.Equal(["red"], Ids(Price(NumericOp.Less, 20)));
        Assert.Equal(["red", "blue"], Ids(Price(NumericOp.LessEqual, 20)));
        Assert.Equal(["blue"], Ids(Price(NumericOp.Equal, 20)));
        Assert.Equal(["blue", "green-no-red"], Ids(Price(NumericOp.GreaterEqual, 20)));
        Assert.Equal(["green-no-red"], Ids(Price(NumericOp.Greater, 20)));
        Assert.Equal(["red", "green-no-red"], Ids(Price(NumericOp.NotEqual, 20)));
    }

    [Fact]
    public void Crowding_caps_results_per_attribute_and_still_fills_k()
    {
        using var index = new ExactIndex(1, DistanceMetric.SquaredL2);
        for (int i = 0; i < 20; i++) index.Upsert($"p{i}", [i], new PointAttributes([], [], i < 10 ? "brand-a"
            : $"brand-{i}"));
        var hits = index.Search([0], new SearchOptions(5, PerCrowdingAttribute: 2));
        Assert.Equal(["p0", "p1", "p10", "p11", "p12"], hits.Select(h => h.Id));
    }

    [Fact]
    public void Merging_shards_crowded_top_k_equals_the_global_crowded_top_k()
    {
        var rng = new Random(3);
        for (int trial = 0; trial < 30; trial++)
        {
            int shards = rng.Next(2, 5), k = rng.Next(1, 12), cap = rng.Next(1, 4);
            var all = new ExactIndex(3, DistanceMetric.SquaredL2);
            var parts = Enumerable.Range(0, shards).Select(_ => new ExactIndex(3, DistanceMetric.SquaredL2)).ToArray();
            var crowd = new Dictionary<string, string>();
            for (int i = 0; i < 200; i++)
            {
                var v = RandomVector(rng, 3);
                var attrs = new PointAttributes([new TokenRestrict("c", [rng.Next(3).ToString()], [])], [],
                    $"g{rng.Next(6)}");
                crowd[$"p{i}"] = attrs.CrowdingAttribute!;
                all.Upsert($"p{i}", v, attrs);
                parts[rng.Next(shards)].Upsert($"p{i}", v, attrs);
            }
            var q = RandomVector(rng, 3);
            var options = new SearchOptions(k, new SearchFilter([new TokenRestrict("c", ["0", "1"], [])], []), cap);
            var merged = new ResultCollector(k, cap);
            foreach (var part in parts)
                foreach (var hit in part.Search(q, options)) merged.Add(hit.Id, hit.Distance, crowd[hit.Id]);
            Assert.Equal(all.Search(q, options).Select(h => h.Id), merged.ToList().Select(h => h.Id));
        }
    }

    [Fact]
    public async Task Searches_run_safely_while_points_are_written()
    {
        using var index = new ExactIndex(16, DistanceMetric.Cosine);
        var rng = new Random(4);
        for (int i = 0; i < 500; i++) index.Upsert($"stable{i}", RandomVector(rng, 16), PointAttributes.None);
        using var stop = new CancellationTokenSource();
        int writes = 0;
        var writer = Task.Run(() =>
        {
            var r = new Random(5);
            while (!stop.IsCancellationRequested)
            {
                index.Upsert($"churn{writes % 200}", RandomVector(r, 16), PointAttributes.None);
                index.Remove($"churn{(writes + 100) % 200}");
                writes++;
            }
        });
        // Readers start only once the writer is running, so searches really overlap with writes.
        while (Volatile.Read(ref writes) < 100) await Task.Delay(1);
        var readers = Enumerable.Range(0, 2).Select(seed => Task.Run(() =>
        {
            var r = new Random(seed);
            for (int i = 0; i < 300; i++)
            {
                var hits = index.Search(RandomVector(r, 16), new SearchOptions(10));
                Assert.Equal(10, hits.Count);
                Assert.Equal(hits.Count, hits.Select(h => h.Id).Distinct().Count());
            }
        })).ToArray();
        await Task.WhenAll(readers);
        stop.Cancel();
        await writer;
    }
}
