using static Catalogs.VectorIndex.Tests.HnswIndexTests;

namespace Catalogs.VectorIndex.Tests;

public unsafe class QuantizationTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(31)]
    [InlineData(64)]
    [InlineData(100)]
    [InlineData(1280)]
    public void Int8_dot_kernel_equals_the_scalar_sum_at_every_length(int n)
    {
        var rng = new Random(n);
        var a = Enumerable.Range(0, n).Select(_ => (sbyte)rng.Next(-127, 128)).ToArray();
        var b = Enumerable.Range(0, n).Select(_ => (sbyte)rng.Next(-127, 128)).ToArray();
        int expected = 0;
        for (int i = 0; i < n; i++) expected += a[i] * b[i];
        var biased = new byte[n];
        fixed (sbyte* pa = a, pb = b)
        fixed (byte* pu = biased)
        {
            Assert.Equal(expected, ScalarQuantizer.Dot(pa, pb, n));
            // The VNNI form: unsigned a + 128 against signed b, corrected by 128 Σ b.
            ScalarQuantizer.ToBiased(pa, pu, n);
            Assert.Equal(expected, ScalarQuantizer.DotBiased(pu, pb, n) - 128 * b.Sum(x => x));
        }
    }

    [Fact]
    public void Codes_decode_to_within_half_a_step_and_outliers_are_clamped()
    {
        var rng = new Random(1);
        var sample = Clustered(rng, 2000, 48);
        var quantizer = ScalarQuantizer.Train(sample);
        var codes = new sbyte[48];
        int clamped = 0;
        fixed (sbyte* c = codes)
            foreach (var v in sample.Take(200))
            {
                int norm = quantizer.Encode(v, c);
                Assert.Equal(codes.Sum(x => x * x), norm);
                var decoded = quantizer.Decode(c);
                for (int i = 0; i < 48; i++)
                {
                    if (Math.Abs(codes[i]) == 127) { clamped++; continue; }
                    Assert.True(Math.Abs(decoded[i] - v[i]) <= quantizer.Step / 2 + 1e-5,
                        $"dimension {i}: {v[i]} decoded as {decoded[i]}");
                }
            }
        Assert.True(clamped < 200 * 48 / 100, $"{clamped} clamped components"); // the step covers all but the far tail
    }

    [Theory]
    [InlineData(DistanceMetric.Cosine)]
    [InlineData(DistanceMetric.DotProduct)]
    [InlineData(DistanceMetric.SquaredL2)]
    public void An_int8_walk_with_float_reranking_keeps_recall_and_returns_exact_distances(DistanceMetric metric)
    {
        var data = Clustered(new Random(2), 4000, 32);
        using var hnsw = new HnswIndex(32, metric, new HnswOptions(M: 12, EfConstruction: 100,
            Quantization: VectorQuantization.Int8, QuantizeAfter: 1000));
        using var exact = new ExactIndex(32, metric);
        hnsw.UpsertMany(data.Select((v, i) => ($"p{i}", v, PointAttributes.None)).ToList(), threads: 1);
        for (int i = 0; i < data.Count; i++) exact.Upsert($"p{i}", data[i], PointAttributes.None);
        Assert.NotNull(hnsw.Quantizer); // the bulk load trained it before inserting
        var queries = Clustered(new Random(3), 100, 32);
        double recall = Recall(hnsw, exact, queries, new SearchOptions(10, Ef: 80));
        // The same graph parameters with a float32 walk: the reference the int8 walk is held to.
        using var plain = new HnswIndex(32, metric, new HnswOptions(M: 12, EfConstruction: 100));
        plain.UpsertMany(data.Select((v, i) => ($"p{i}", v, PointAttributes.None)).ToList(), threads: 1);
        double recallPlain = Recall(plain, exact, queries, new SearchOptions(10, Ef: 80));
        // Queries come from other clusters than the data (hard: about 0.86–0.90 for the float32 walk too): the int8
        // walk must find what the float32 walk finds.
        Assert.True(recall >= recallPlain - 0.02 && recall >= 0.85,
            $"{metric}: recall@10 at ef 80 {recall:F3} (float32 walk {recallPlain:F3})");
        // Re-ranking reports the float32 distance of every hit, as the exact index does.
        foreach (var q in queries.Take(20))
        {
            var truth = exact.Search(q, new SearchOptions(50)).ToDictionary(n => n.Id, n => n.Distance);
            foreach (var hit in hnsw.Search(q, new SearchOptions(10, Ef: 80)))
                if (truth.TryGetValue(hit.Id, out var d)) Assert.Equal(d, hit.Distance, 1e-4f);
        }
        Assert.True(hnsw.Memory.WalkBytes < plain.Memory.WalkBytes, "int8 walk records are smaller than float32 ones");
    }

    [Fact]
    public void Single_upserts_train_the_quantizer_once_enough_points_arrived_and_searches_work_throughout()
    {
        var data = Clustered(new Random(4), 1500, 16);
        using var hnsw = new HnswIndex(16, DistanceMetric.SquaredL2, new HnswOptions(M: 8, EfConstruction: 64,
            ExactBelowMatches: 0, Quantization: VectorQuantization.Int8, QuantizeAfter: 1000));
        using var exact = new ExactIndex(16, DistanceMetric.SquaredL2);
        for (int i = 0; i < data.Count; i++)
        {
            hnsw.Upsert($"p{i}", data[i], PointAttributes.None);
            exact.Upsert($"p{i}", data[i], PointAttributes.None);
            if (i == 998) Assert.Null(hnsw.Quantizer);
            if (i == 999) Assert.NotNull(hnsw.Quantizer);
        }
        Assert.True(Recall(hnsw, exact, Clustered(new Random(5), 50, 16), new SearchOptions(10, Ef: 64)) >= 0.95);
    }

    [Fact]
    public void Memory_mapped_rerank_vectors_give_the_same_results_and_survive_snapshots()
    {
        var data = Clustered(new Random(6), 3000, 24);
        var points = data.Select((v, i) => ($"p{i}", v, PointAttributes.None)).ToList();
        var directory = Directory.CreateTempSubdirectory("catalogs-rerank-").FullName;
        try
        {
            var options = new HnswOptions(M: 8, EfConstruction: 64, ExactBelowMatches: 0,
                Quantization: VectorQuantization.Int8, QuantizeAfter: 500);
            using var heap = new HnswIndex(24, DistanceMetric.Cosine, options);
            using var mapped = new HnswIndex(24, DistanceMetric.Cosine, options with { RerankDirectory = directory });
            heap.UpsertMany(points, threads: 1);
            mapped.UpsertMany(points, threads: 1);
            Assert.Equal(0, mapped.Memory.RerankBytes);
            Assert.True(mapped.Memory.MappedBytes >= 3000L * 24 * 4);
            Assert.Empty(Directory.GetFiles(directory)); // mapped, then unlinked: nothing outlives the process

            using var buffer = new MemoryStream();
            mapped.Save(buffer);
            buffer.Position = 0;
            using var loaded = HnswIndex.Load(buffer, directory);
            Assert.Equal(mapped.Quantizer!.Step, loaded.Quantizer!.Step);
            foreach (var q in Clustered(new Random(7), 30, 24))
            {
                var expected = heap.Search(q, new SearchOptions(10, Ef: 40));
                Assert.Equal(expected, mapped.Search(q, new SearchOptions(10, Ef: 40)));
                Assert.Equal(expected, loaded.Search(q, new SearchOptions(10, Ef: 40)));
            }
        }
        finally { Directory.Delete(directory, recursive: true); }
    }

    [Fact]
    public void Mapped_rerank_vectors_written_loaded_and_snapshotted_stay_out_of_the_process_resident_memory()
    {
        const int count = 12_000, dims = 256;
        var data = Clustered(new Random(8), count, dims);
        var points = data.Select((v, i) => ($"p{i}", v, PointAttributes.None)).ToList();
        var directory = Directory.CreateTempSubdirectory("catalogs-rerank-").FullName;
        try
        {
            var options = new HnswOptions(M: 8, EfConstruction: 32, ExactBelowMatches: 0,
                Quantization: VectorQuantization.Int8, QuantizeAfter: 1000, RerankDirectory: directory);
            using var index = new HnswIndex(dims, DistanceMetric.Cosine, options);
            index.UpsertMany(points, threads: 2);
            using (var buffer = new MemoryStream())
            {
                index.Save(buffer); // reads every vector
                buffer.Position = 0;
                using var loaded = HnswIndex.Load(buffer, directory); // writes every vector
                Assert.Equal(data[count - 1], loaded.Vector($"p{count - 1}"));
                Assert.True(ResidentKib(directory) * 1024 < 0.1 * 2 * count * dims * 4,
                    $"{ResidentKib(directory)} KiB of re-rank pages resident after load and save");
            }
            for (int i = 0; i < count; i += 7) Assert.Equal(data[i], index.Vector($"p{i}")); // exact, from the file
            var moved = data[5].Select(x => -x).ToArray();
            index.Upsert("p5", moved, PointAttributes.None); // an update rewrites the vector in place
            Assert.Equal(moved, index.Vector("p5"));
            long resident = ResidentKib(directory);
            Assert.True(resident * 1024 < 0.1 * count * dims * 4, $"{resident} KiB of re-rank pages resident");
            // Re-ranking reads through the mapping (and the kernel maps cached pages around each fault).
            Assert.Equal("p5", index.Search(moved, new SearchOptions(1, Ef: 64))[0].Id);
            foreach (var q in Clustered(new Random(9), 20, dims)) index.Search(q, new SearchOptions(10, Ef: 64));
            Assert.True(ResidentKib(directory) > resident, "re-ranking reads through the mapping");
        }
        finally { Directory.Delete(directory, recursive: true); }
    }

    /// <summary>Resident KiB of this process's mappings of files that were in <paramref name="directory"/>.</summary>
    static long ResidentKib(string directory)
    {
        long total = 0;
        bool inside = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            if (System.Text.RegularExpressions.Regex.IsMatch(line, "^[0-9a-f]+-[0-9a-f]+ "))
                inside = line.Contains(directory, StringComparison.Ordinal);
            else if (inside && line.StartsWith("Rss:", StringComparison.Ordinal))
                total += long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
        }
        return total;
    }

    [Fact]
    public void L1_cannot_be_quantized()
    {
        Assert.Throws<ArgumentException>(() => new HnswIndex(8, DistanceMetric.L1,
            new HnswOptions(Quantization: VectorQuantization.Int8)));
    }
}
