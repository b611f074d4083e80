using System.Diagnostics;
using Catalogs.VectorIndex;

namespace Catalogs.Bench;

/// <summary>Builds our HNSW on base vectors, sweeps ef, and prints recall@k against exact results with single-thread
/// QPS.</summary>
static class AnnBenchmark
{
    public static void Run(float[][] data, float[][] queries, string? groundTruthPath, DistanceMetric metric, int k,
        int m, int efConstruction, int[] efs, int threads, double filterFraction, VectorQuantization quantization,
        string? rerankDirectory, string? indexCache)
    {
        int d = data[0].Length;
        var walk = quantization == VectorQuantization.None ? "float32" : "int8 (float32 re-rank)";
        Console.WriteLine($"ANN: {data.Length:N0} × {d} base, {queries.Length:N0} queries, {metric}, k = {k}, " +
            $"M = {m}, efConstruction = {efConstruction}, build threads = {threads}, walk vectors {walk}");
        var truth = GroundTruth(data, queries, groundTruthPath, metric, k, threads);
        HnswIndex index;

        if (indexCache is not null && File.Exists(indexCache))
        {
            var loading = Stopwatch.StartNew();
            using (var stream = File.OpenRead(indexCache)) index = HnswIndex.Load(stream, rerankDirectory);
            Console.WriteLine($"  loaded {indexCache} in {loading.Elapsed.TotalSeconds:F1} s (no build)");
        }
        else
        {
            index = Build(data, queries, k, metric, m, efConstruction, threads, filterFraction, quantization,
                rerankDirectory);
            if (indexCache is not null) using (var stream = File.Create(indexCache)) index.Save(stream);
        }
        using var disposeIndex = index;

        foreach (var ef in efs)
        {
            var (recall, qps) = Measure(index, queries, truth, new SearchOptions(k, Ef: ef), k);
            Console.WriteLine($"  ef {ef,4}: recall@{k} {recall:F4}  {qps,8:F0} queries/s (1 thread)");
        }
        if (filterFraction > 0)
        {
            // A restrict matching a fraction of the points: truth is the exact search of that subset.
            var filter = new SearchFilter([new TokenRestrict("bucket", ["rare"], [])], []);
            var exact = new ExactIndex(d, metric);
            for (int i = 0; i < data.Length; i++) if (IsRare(i, filterFraction)) exact.Upsert(i.ToString(), data[i],
                PointAttributes.None);
            var filteredTruth = queries.Select(q => exact.Search(q, new SearchOptions(k)).Select(n =>
                int.Parse(n.Id)).ToArray()).ToArray();
            foreach (var ef in efs)
            {
                var (recall, qps) = Measure(index, queries, filteredTruth, new SearchOptions(k, filter, Ef: ef), k);
                Console.WriteLine($"  ef {ef,4}, filter matching {filterFraction:P0}: recall@{k} {recall:F4}  " +
                    $"{qps,8:F0} queries/s (1 thread)");
            }
        }
    }

    static HnswIndex Build(float[][] data, float[][] queries, int k, DistanceMetric metric, int m, int efConstruction,
        int threads, double filterFraction, VectorQuantization quantization, string? rerankDirectory)
    {
        int d = data[0].Length;
        long before = GC.GetTotalMemory(forceFullCollection: true);
        var build = Stopwatch.StartNew();
        var index = new HnswIndex(d, metric, new HnswOptions(M: m, EfConstruction: efConstruction,
            Quantization: quantization, RerankDirectory: rerankDirectory));
        var points = data.Select((v, i) => (i.ToString(), v, Attributes(i, filterFraction))).ToList();
        index.UpsertMany(points, threads);
        build.Stop();
        long after = GC.GetTotalMemory(forceFullCollection: true);
        var memory = index.Memory;
        Console.WriteLine($"  build {build.Elapsed.TotalSeconds:F1} s, managed heap growth " +
            $"{(after - before) / 1048576.0:F0} MiB ({(double)(after - before) / data.Length:F0} bytes/vector, raw " +
            $"float32 {4 * d} bytes)");
        Console.WriteLine($"  per vector: walk records {(double)memory.WalkBytes / data.Length:F0} B, float32 " +
            $"re-rank store {(double)memory.RerankBytes / data.Length:F0} B on the heap + " +
            $"{(double)memory.MappedBytes / data.Length:F0} B memory-mapped, other " +
            $"{(double)memory.OtherBytes / data.Length:F0} B; " +
                          $"walk + other = " +
                              $"{(double)(memory.WalkBytes + memory.OtherBytes) / (4.0 * d * data.Length):F2}x raw " +
                              $"float32, heap total {(double)memory.Total / (4.0 * d * data.Length):F2}x");

        var file = Path.Combine(Path.GetTempPath(), $"catalogs-ann-{Environment.ProcessId}.hnsw");
        var save = Stopwatch.StartNew();
        using (var stream = File.Create(file)) index.Save(stream);
        save.Stop();
        var loadTime = Stopwatch.StartNew();
        HnswIndex reloaded;
        using (var stream = File.OpenRead(file)) reloaded = HnswIndex.Load(stream, rerankDirectory);
        loadTime.Stop();
        bool same = queries.Take(100).All(q => index.Search(q, new SearchOptions(k)).SequenceEqual(reloaded.Search(q,
            new SearchOptions(k))));
        Console.WriteLine($"  snapshot {new FileInfo(file).Length / 1048576.0:F0} MiB: save " +
            $"{save.Elapsed.TotalSeconds:F1} s, load {loadTime.Elapsed.TotalSeconds:F1} s (no rebuild), same results " +
            $"after load: {same}");
        reloaded.Dispose();
        File.Delete(file);

        return index;
    }

    static bool IsRare(int i, double fraction) => fraction > 0 && i % (int)Math.Round(1 / fraction) == 0;

    static PointAttributes Attributes(int i, double fraction) => fraction > 0
        ? new PointAttributes([new TokenRestrict("bucket", [IsRare(i, fraction) ? "rare" : "common"], [])], [], null)
        : PointAttributes.None;

    static (double Recall, double Qps) Measure(HnswIndex index, float[][] queries, int[][] truth, SearchOptions options,
        int k)
    {
        // Warm-up for a second: long enough for tiered compilation to have promoted the walk to optimised code,
        // which 50 queries were not (the first ef measured ran up to 2x slow).
        var warm = Stopwatch.StartNew();
        for (int i = 0; warm.Elapsed < TimeSpan.FromSeconds(1); i++) index.Search(queries[i % queries.Length], options);
        int hits = 0;
        var sw = Stopwatch.StartNew();
        var results = new IReadOnlyList<Neighbor>[queries.Length];
        for (int i = 0; i < queries.Length; i++) results[i] = index.Search(queries[i], options);
        sw.Stop();
        for (int i = 0; i < queries.Length; i++)
        {
            var expected = truth[i].Take(k).ToHashSet();
            hits += results[i].Count(n => expected.Contains(int.Parse(n.Id)));
        }
        return ((double)hits / (queries.Length * k), queries.Length / sw.Elapsed.TotalSeconds);
    }

    /// <summary>Exact neighbours, computed in parallel and cached in an .ivecs file (also read by the hnswlib
    /// harness).</summary>
    static int[][] GroundTruth(float[][] data, float[][] queries, string? path, DistanceMetric metric, int k,
        int threads)
    {
        if (path is not null && File.Exists(path))
        {
            var cached = VectorFiles.ReadIvecs(path);
            if (cached.Length == queries.Length && cached[0].Length >= k) return cached;
        }
        var sw = Stopwatch.StartNew();
        var exact = new ExactIndex(data[0].Length, metric);
        for (int i = 0; i < data.Length; i++) exact.Upsert(i.ToString(), data[i], PointAttributes.None);
        var truth = new int[queries.Length][];
        Parallel.For(0, queries.Length, new ParallelOptions { MaxDegreeOfParallelism = threads },
            i => truth[i] = exact.Search(queries[i], new SearchOptions(Math.Max(k, 100))).Select(n =>
                int.Parse(n.Id)).ToArray());
        Console.WriteLine($"  ground truth (exact, top {Math.Max(k, 100)}) in {sw.Elapsed.TotalSeconds:F1} s");
        if (path is not null) VectorFiles.WriteIvecs(path, truth);
        return truth;
    }
}
