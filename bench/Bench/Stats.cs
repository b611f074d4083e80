namespace Catalogs.Bench;

static class Stats
{
    public static double Percentile(List<double> sorted, double p) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1,
            (int)Math.Ceiling(p / 100 * sorted.Count) - 1)];

    public static string Latencies(List<double> ms)
    {
        ms.Sort();
        return $"p50 {Percentile(ms, 50):F1} ms, p95 {Percentile(ms, 95):F1} ms, p99 {Percentile(ms, 99):F1} ms, max " +
            $"{ms[^1]:F1} ms (n = {ms.Count})";
    }
}
