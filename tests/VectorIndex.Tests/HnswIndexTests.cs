namespace Catalogs.VectorIndex.Tests;

public class HnswIndexTests
{
    internal static float[] RandomVector(Random rng, int d)
    {
        var v = new float[d];
        for (int i = 0; i < d; i++) v[i] = (float)(rng.NextDouble() * 2 - 1);
        return v;
    }

    /// <summary>Clustered data, as embeddings are: random centres with Gaussian-ish spread.</summary>
    internal static List<float[]> Clustered(Random rng, int n, int d, int clusters = 20)
    {
        var centres = Enumerable.Range(0, clusters).Select(_ => RandomVector(rng, d)).ToArray();
        return Enumerable.Range(0, n).Select(_ =>
        {
            var c = centres[rng.Next(clusters)];
            return c.Select(x => x + (float)(rng.NextDouble() - 0.5) * 0.6f).ToArray();
        }).ToList();
    }

    internal static double Recall(IVectorIndex approximate, IVectorIndex exact, IEnumerable<float[]> queries,
        SearchOptions options)
    {
        int hit = 0, total = 0;
        foreach (var q in queries)
        {
            var truth = exact.Search(q, options).Select(n => n.Id).ToHashSet();
            hit += approximate.Search(q, options).Count(n => truth.Contains(n.Id));
            total += truth.Count;
        }
        return (double)hit / total;
    }

    [Theory]
    [InlineData(DistanceMetric.Cosine)]
    [InlineData(DistanceMetric.DotProduct)]
    [InlineData(DistanceMetric.SquaredL2)]
    [InlineData(DistanceMetric.L1)]
    public void Recall_at_10_is_high_for_every_metric(DistanceMetric metric)
    {
        var rng = new Random(1);
        var data = Clustered(rng, 3000, 32);
        using var hnsw = new HnswIndex(32, metric, new HnswOptions(M: 12, EfConstruction: 100));
        using var exact = new ExactIndex(32, metric);
        // One build thread: the graph, and so the recall, is the same on every run (the threaded build has its own
        // test).
        hnsw.UpsertMany(data.Select((v, i) => ($"p{i}", v, PointAttributes.None)).ToList(), threads: 1);
        for (int i = 0; i < data.Count; i++) exact.Upsert($"p{i}", data[i], PointAttributes.None);
        var queries = Clustered(new Random(2), 100, 32);
        double recall = Recall(hnsw, exact, queries, new SearchOptions(10, Ef: 80));
        double wide = Recall(hnsw, exact, queries, new SearchOptions(10, Ef: 300));
        // Dot product ranks by norm as much as by direction, so a walk with a small ef misses more (0.92 here).
        Assert.True(recall >= (metric == DistanceMetric.DotProduct ? 0.9 : 0.95),
            $"{metric}: recall@10 at ef 80 {recall:F3}");
        Assert.True(wide >= 0.99, $"{metric}: recall@10 at ef 300 {wide:F3}");
        Assert.Equal(3000, hnsw.Count);
    }

    [Theory]
    [InlineData(VectorQuantization.None)]
    [InlineData(VectorQuantization.Int8)] // trains on the first 500 points, then walks int8 through the churn
    public void Under_churn_deleted_ids_never_return_updates_take_effect_and_slots_are_reused(
        VectorQuantization quantization)
    {
        var rng = new Random(3);
        using var hnsw = new HnswIndex(16, DistanceMetric.SquaredL2, new HnswOptions(M: 8, EfConstruction: 64,
            ExactBelowMatches: 0, Quantization: quantization, QuantizeAfter: 500));
        using var exact = new ExactIndex(16, DistanceMetric.SquaredL2);
        var live = new Dictionary<string, float[]>();
        for (int i = 0; i < 1000; i++)
        {
            var v = RandomVector(rng, 16);
            hnsw.Upsert($"p{i}", v, PointAttributes.None);
            exact.Upsert($"p{i}", v, PointAttributes.None);
            live[$"p{i}"] = v;
        }
        int capacity = hnsw.Capacity;
        var deleted = new HashSet<string>();
        for (int round = 0; round < 10; round++)
        {
            foreach (var id in live.Keys.OrderBy(_ => rng.Next()).Take(100).ToList())
            {
                Assert.True(hnsw.Remove(id));
                exact.Remove(id);
                live.Remove(id);
                deleted.Add(id);
            }
            for (int i = 0; i < 100; i++)
            {
                var id = $"r{round}-{i}";
                var v = RandomVector(rng, 16);
                hnsw.Upsert(id, v, PointAttributes.None);
                exact.Upsert(id, v, PointAttributes.None);
                live[id] = v;
                deleted.Remove(id);
            }
            // Update some live points in place: searching for the new vector finds them first.
            foreach (var id in live.Keys.Take(20).ToList())
            {
                var v = RandomVector(rng, 16);
                hnsw.Upsert(id, v, PointAttributes.None);
                exact.Upsert(id, v, PointAttributes.None);
                live[id] = v;
                Assert.Equal(id, hnsw.Search(v, new SearchOptions(1, Ef: 64))[0].Id);
            }
        }
        Assert.Equal(capacity, hnsw.Capacity); // every insert reused a tombstone
        Assert.Equal(1000, hnsw.Count);
        var queries = Enumerable.Range(0, 100).Select(_ => RandomVector(rng, 16)).ToList();
        foreach (var q in queries)
            Assert.DoesNotContain(hnsw.Search(q, new SearchOptions(20, Ef: 100)), n => deleted.Contains(n.Id));
        Assert.True(Recall(hnsw, exact, queries, new SearchOptions(10, Ef: 100)) >= 0.9);
    }

    [Theory]
    [InlineData(VectorQuantization.None)]
    [InlineData(VectorQuantization.Int8)]
    public void Points_moved_across_the_space_stay_reachable(VectorQuantization quantization)
    {
        // Negated vectors land where no other point is: the pruning heuristic drops their reverse links unless the
        // nearest neighbour is made to keep one (without that rule the 7th could not be found at any ef). Built one
        // point at a time, so the graph is the same on every run; a later move into the same region can still take
        // over the only link of an earlier one, which is why one loss is allowed at the end.
        const int count = 5000, dims = 64, moves = 40;
        var data = Clustered(new Random(8), count, dims);
        using var index = new HnswIndex(dims, DistanceMetric.Cosine, new HnswOptions(M: 8, EfConstruction: 32,
            ExactBelowMatches: 0, Quantization: quantization, QuantizeAfter: 1000));
        for (int i = 0; i < count; i++) index.Upsert($"p{i}", data[i], PointAttributes.None);
        var moved = data.Take(moves).Select(v => v.Select(x => -x).ToArray()).ToList();
        for (int k = 0; k < moves; k++)
        {
            index.Upsert($"p{k}", moved[k], PointAttributes.None);
            Assert.Equal($"p{k}", index.Search(moved[k], new SearchOptions(1, Ef: 1000))[0].Id);
        }
        int lost = Enumerable.Range(0, moves)
            .Count(k => index.Search(moved[k], new SearchOptions(1, Ef: 1000))[0].Id != $"p{k}");
        Assert.True(lost <= 1, $"{lost} of {moves} moved points unreachable");
    }

    [Fact]
    public void Filters_and_crowding_match_the_exact_index_on_small_sets()
    {
        var rng = new Random(4);
        using var hnsw = new HnswIndex(8, DistanceMetric.Cosine, new HnswOptions(M: 8, EfConstruction: 64,
            ExactBelowMatches: 0));
        using var exact = new ExactIndex(8, DistanceMetric.Cosine);
        for (int i = 0; i < 400; i++)
        {
            var v = RandomVector(rng, 8);
            var attrs = new PointAttributes([new TokenRestrict("color", [new[] { "red", "blue", "green" }[i % 3]], [])],
                [new NumericValue("price", i)], $"brand{i % 9}");
            hnsw.Upsert($"p{i}", v, attrs);
            exact.Upsert($"p{i}", v, attrs);
        }
        var filters = new[]
        {
            new SearchFilter([new TokenRestrict("color", ["red"], [])], []),
            new SearchFilter([new TokenRestrict("color", [], ["blue"])], [new NumericCondition("price", NumericOp.Less,
                200)]),
        };
        for (int i = 0; i < 20; i++)
        {
            var q = RandomVector(rng, 8);
            foreach (var filter in filters)
                foreach (var crowd in new int?[] { null, 2 })
                {
                    // ef as large as the index makes the walk exhaustive, so results must equal the exact ones.
                    var options = new SearchOptions(10, filter, crowd, ExcludeId: "p0", Ef: 400);
                    Assert.Equal(exact.Search(q, options).Select(n => n.Id), hnsw.Search(q, options).Select(n => n.Id));
                }
        }
    }

    [Fact]
    public void A_very_selective_filter_keeps_its_recall()
    {
        var rng = new Random(5);
        var data = Clustered(rng, 5000, 24);
        using var hnsw = new HnswIndex(24, DistanceMetric.Cosine, new HnswOptions(M: 12, EfConstruction: 100));
        using var exact = new ExactIndex(24, DistanceMetric.Cosine);
        var points = data.Select((v, i) => ($"p{i}", v, new PointAttributes([new TokenRestrict("shop", [i % 100 == 0
            ? "rare" : "common"], [])], [], null))).ToList();
        hnsw.UpsertMany(points);
        foreach (var (id, v, a) in points) exact.Upsert(id, v, a);
        var options = new SearchOptions(10, new SearchFilter([new TokenRestrict("shop", ["rare"], [])], []), Ef: 40);
        Assert.True(Recall(hnsw, exact, Clustered(new Random(6), 50, 24), options) >= 0.95);
    }

    [Theory]
    [InlineData(VectorQuantization.None)]
    [InlineData(VectorQuantization.Int8)] // the quantizer is trained while searches and writes run
    public async Task Concurrent_inserts_deletes_and_searches_are_safe(VectorQuantization quantization)
    {
        using var hnsw = new HnswIndex(16, DistanceMetric.Cosine, new HnswOptions(M: 8, EfConstruction: 48,
            ExactBelowMatches: 0, Quantization: quantization, QuantizeAfter: 700));
        var rng = new Random(7);
        for (int i = 0; i < 500; i++) hnsw.Upsert($"stable{i}", RandomVector(rng, 16), PointAttributes.None);
        using var stop = new CancellationTokenSource();
        int writes = 0;
        var writers = Enumerable.Range(0, 2).Select(w => Task.Run(() =>
        {
            var r = new Random(10 + w);
            for (int n = 0; !stop.IsCancellationRequested; n++)
            {
                Interlocked.Increment(ref writes);
                hnsw.Upsert($"w{w}-{n % 300}", RandomVector(r, 16), PointAttributes.None);
                hnsw.Remove($"w{w}-{(n + 150) % 300}");
            }
        })).ToArray();
        while (Volatile.Read(ref writes) < 100) await Task.Delay(1); // searches must overlap with writes
        // With int8, the searches go on until the quantizer is trained (the writers grow the index past
        // QuantizeAfter), however slowly the machine lets the writers run.
        var until = DateTime.UtcNow.AddSeconds(60);
        bool Training() => quantization != VectorQuantization.None && hnsw.Quantizer is null && DateTime.UtcNow < until;
        var readers = Enumerable.Range(0, 2).Select(seed => Task.Run(() =>
        {
            var r = new Random(seed);
            for (int i = 0; i < 2000 || Training(); i++)
            {
                var hits = hnsw.Search(RandomVector(r, 16), new SearchOptions(10));
                var ids = string.Join(", ", hits.Select(h => h.Id));
                Assert.True(hits.Count == 10, $"search {i}: {hits.Count} hits ({ids})");
                Assert.True(hits.Select(h => h.Id).Distinct().Count() == 10, $"search {i}: repeated ids in {ids}");
            }
        })).ToArray();
        await Task.WhenAll(readers);
        stop.Cancel();
        await Task.WhenAll(writers);
        Assert.InRange(hnsw.Count, 500, 500 + 2 * 300);
        if (quantization != VectorQuantization.None) Assert.NotNull(hnsw.Quantizer);
    }

    [Fact]
    public void Snapshot_round_trip_keeps_results_tombstones_and_attributes()
    {
        var rng = new Random(8);
        using var index = new HnswIndex(12, DistanceMetric.Cosine, new HnswOptions(M: 8, EfConstruction: 64,
            ExactBelowMatches: 0));
        for (int i = 0; i < 600; i++)
            index.Upsert($"p{i}", RandomVector(rng, 12), new PointAttributes([new TokenRestrict("c",
                [(i % 4).ToString()], [])], [new NumericValue("n", i)], $"g{i % 5}"));
        for (int i = 0; i < 600; i += 7) index.Remove($"p{i}");
        using var buffer = new MemoryStream();
        index.Save(buffer);
        buffer.Position = 0;
        using var loaded = HnswIndex.Load(buffer);
        Assert.Equal(index.Count, loaded.Count);
        Assert.Equal(index.Capacity, loaded.Capacity);
        var filter = new SearchFilter([new TokenRestrict("c", ["1", "2"], [])], [new NumericCondition("n",
            NumericOp.Greater, 100)]);
        for (int i = 0; i < 30; i++)
        {
            var q = RandomVector(rng, 12);
            foreach (var options in new[] { new SearchOptions(10, Ef: 50), new SearchOptions(10, filter, 2, Ef: 50) })
                Assert.Equal(index.Search(q, options), loaded.Search(q, options));
        }
        Assert.False(loaded.Contains("p7"));
        // Tombstones survive the round trip and are reused by the next inserts.
        int capacity = loaded.Capacity;
        for (int i = 0; i < 50; i++) loaded.Upsert($"new{i}", RandomVector(rng, 12), PointAttributes.None);
        Assert.Equal(capacity, loaded.Capacity);
    }

    [Fact]
    public void Damaged_or_truncated_snapshots_are_refused()
    {
        var rng = new Random(9);
        using var index = new HnswIndex(8, DistanceMetric.SquaredL2);
        for (int i = 0; i < 200; i++) index.Upsert($"p{i}", RandomVector(rng, 8), PointAttributes.None);
        using var buffer = new MemoryStream();
        index.Save(buffer);
        var bytes = buffer.ToArray();

        var flipped = (byte[])bytes.Clone();
        flipped[bytes.Length / 2] ^= 0x10;
        Assert.Throws<IndexSnapshotException>(() => HnswIndex.Load(new MemoryStream(flipped)));
        var truncated = bytes[..(bytes.Length - 100)];
        Assert.Contains("truncated", Assert.Throws<IndexSnapshotException>(() =>
            HnswIndex.Load(new MemoryStream(truncated))).Message);
        var other = (byte[])bytes.Clone();
        other[0] = (byte)'X';
        Assert.Contains("magic", Assert.Throws<IndexSnapshotException>(() =>
            HnswIndex.Load(new MemoryStream(other))).Message);
    }

    [Fact]
    public void A_small_index_answers_exactly()
    {
        var rng = new Random(12);
        using var hnsw = new HnswIndex(6, DistanceMetric.SquaredL2, new HnswOptions(M: 4, EfConstruction: 16,
            ExactBelowMatches: 500));
        using var exact = new ExactIndex(6, DistanceMetric.SquaredL2);
        var points = Enumerable.Range(0, 300).Select(i => ($"p{i}", RandomVector(rng, 6),
            PointAttributes.None)).ToList();
        hnsw.UpsertMany(points);
        foreach (var (id, v, a) in points) exact.Upsert(id, v, a);
        for (int i = 0; i < 20; i++)
        {
            var q = RandomVector(rng, 6);
            Assert.Equal(exact.Search(q, new SearchOptions(10)), hnsw.Search(q, new SearchOptions(10, Ef: 10)));
        }
    }
}
