using System.Diagnostics;
using Catalogs.Training;
using Catalogs.VectorIndex;

namespace Catalogs.Bench;

/// <summary>
/// What a tuned head costs and saves: applying it to one embedding (1280 → d, one core), and a search over the
/// same points at 1280 dimensions against d (exact and HNSW, one thread, the same random unit vectors projected by
/// the head), so "query latency within 10 % of raw" is measured, not assumed.
/// </summary>
static class HeadBenchmark
{
    public static void Run(int[] outputs, int points, int queries)
    {
        const int input = 1280;
        var rng = new Random(3);
        float[] Random(int d)
        {
            var v = new float[d];
            for (int i = 0; i < d; i++) v[i] = (float)(rng.NextDouble() * 2 - 1);
            return v;
        }
        var data = Enumerable.Range(0, points).Select(_ => Random(input)).ToArray();
        var probes = Enumerable.Range(0, queries).Select(_ => Random(input)).ToArray();
        Console.WriteLine($"Heads: {points:N0} points, {queries} queries, k 10, one thread; " +
            $"{Environment.ProcessorCount} cores; {System.Runtime.InteropServices.RuntimeInformation.OSDescription}");
        Console.WriteLine("| head | apply (µs) | exact search (ms) | HNSW search (µs, ef 64) | HNSW build (s) |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (int d in new[] { input }.Concat(outputs))
        {
            double applyMicros = 0;
            float[][] vectors = data, qs = probes;
            if (d != input)
            {
                var head = new LinearHead(input, d, new float[input], Random(input * d), new float[d]);
                var output = new float[d];
                var centred = new float[input];
                for (int i = 0; i < 2_000; i++) head.Apply(probes[i % queries], output, centred); // warm-up
                var clock = Stopwatch.StartNew();
                const int applications = 20_000;
                for (int i = 0; i < applications; i++) head.Apply(probes[i % queries], output, centred);
                applyMicros = clock.Elapsed.TotalMicroseconds / applications;
                vectors = data.Select(v => head.Apply(v)).ToArray();
                qs = probes.Select(v => head.Apply(v)).ToArray();
            }
            var attributes = new PointAttributes([], [], null);
            using var exact = new ExactIndex(d, DistanceMetric.Cosine);
            exact.UpsertMany(vectors.Select((v, i) => ($"p{i}", v, attributes)).ToArray());
            var build = Stopwatch.StartNew();
            var hnsw = new HnswIndex(d, DistanceMetric.Cosine);
            Parallel.For(0, vectors.Length, i => hnsw.Upsert($"p{i}", vectors[i], attributes));
            double buildSeconds = build.Elapsed.TotalSeconds;
            var options = new SearchOptions(10);
            double Time(IVectorIndex index, int repeat)
            {
                foreach (var q in qs.Take(50)) index.Search(q, options);
                var clock = Stopwatch.StartNew();
                for (int r = 0; r < repeat; r++)
                    foreach (var q in qs) index.Search(q, options);
                return clock.Elapsed.TotalMicroseconds / (repeat * qs.Length);
            }
            double exactMicros = Time(exact, 1), hnswMicros = Time(hnsw, 3);
            Console.WriteLine($"| {(d == input ? "none (1280-d)" : $"1280 → {d}")} | " +
                $"{(d == input ? "–" : applyMicros.ToString("F1"))} | {exactMicros / 1000:F2} | {hnswMicros:F0} | " +
                $"{buildSeconds:F1} |");
        }
    }
}
