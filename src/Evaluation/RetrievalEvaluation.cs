using System.IO.Hashing;
using System.Numerics.Tensors;
using System.Text;

namespace Catalogs.Evaluation;

/// <summary>An embedded, labeled image: its key (its path), its label, its vector.</summary>
public sealed record LabeledVector(string Key, string Label, float[] Vector);

public sealed record ClassScores(string Label, int Queries, double PrecisionAt1, double PrecisionAt10,
    double MeanAveragePrecision);

/// <summary>Queries of one label whose best match had another.</summary>
public sealed record ConfusedPair(string QueryLabel, string MatchedLabel, int Queries);

/// <summary>A gallery item in a query's ranking, with its cosine similarity.</summary>
public sealed record RankedMatch(string Key, string Label, float Score);

/// <summary>A query with the top of its ranking, for a page a person reads.</summary>
public sealed record SampleQuery(string Key, string Label, RankedMatch[] Top);

public sealed record RetrievalReport(
    int Queries, int Gallery, double PrecisionAt1, double PrecisionAt5, double PrecisionAt10, double RecallAt10,
    double MeanAveragePrecision, ClassScores[] Classes, ConfusedPair[] Confusions, SampleQuery[] Samples);

/// <summary>
/// Retrieval of labeled queries against a labeled gallery by cosine similarity, exhaustively (no index: the figures
/// measure the encoder, not the search). A gallery item is relevant to a query when it has the query's label.
/// precision@k: relevant items in the top k over k; recall@10: relevant items in the top 10 over all relevant ones;
/// average precision: the mean of precision at each relevant item's rank over the whole ranking. Ties are broken by
/// key, so the same vectors always give the same report.
/// </summary>
public static class RetrievalEvaluation
{
    /// <summary>Evaluates <paramref name="queries"/> against <paramref name="gallery"/>; with
    /// <paramref name="leaveOneOut"/> the gallery item with a query's own key is left out of its ranking (queries
    /// and gallery are then the same set). <paramref name="samples"/> queries, taken in turn from each label (by
    /// key within a label), come back with their top <paramref name="sampleTop"/> matches. <paramref
    /// name="rescore"/> (query index, gallery index, cosine → score) re-ranks each query's <paramref
    /// name="rescoreTop"/> best matches by cosine, as a search that re-ranks its candidates does.</summary>
    public static RetrievalReport Evaluate(IReadOnlyList<LabeledVector> queries, IReadOnlyList<LabeledVector> gallery,
        bool leaveOneOut = false, int confusions = 10, int samples = 0, int sampleTop = 5,
        Func<int, int, float, float>? rescore = null, int rescoreTop = 50)
    {
        if (queries.Count == 0 || gallery.Count == 0)
            throw new ArgumentException("Evaluation needs at least one query and one gallery item.");
        var unit = gallery.Select(g => Normalized(g.Vector)).ToArray();
        var perLabel = gallery.GroupBy(g => g.Label, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(),
            StringComparer.Ordinal);
        var results = new (string Label, double P1, double P5, double P10, double R10, double Ap, string? Top)[
            queries.Count];
        var tops = new RankedMatch[queries.Count][];
        Parallel.For(0, queries.Count, i =>
        {
            var q = queries[i];
            var v = Normalized(q.Vector);
            var scored = Enumerable.Range(0, gallery.Count)
                .Where(j => !(leaveOneOut && gallery[j].Key == q.Key))
                .Select(j => (j, Score: TensorPrimitives.Dot(v, unit[j])))
                .OrderByDescending(x => x.Score).ThenBy(x => gallery[x.j].Key, StringComparer.Ordinal).ToArray();
            if (rescore is not null)
                scored = [.. scored.Take(rescoreTop).Select(x => (x.j, Score: rescore(i, x.j, x.Score)))
                    .OrderByDescending(x => x.Score).ThenBy(x => gallery[x.j].Key, StringComparer.Ordinal),
                    .. scored.Skip(rescoreTop)];
            tops[i] = scored.Take(sampleTop).Select(x => new RankedMatch(gallery[x.j].Key, gallery[x.j].Label,
                x.Score)).ToArray();
            var ranked = scored.Select(x => gallery[x.j]).ToArray();
            int relevant = perLabel.GetValueOrDefault(q.Label) - (leaveOneOut && ranked.Length < gallery.Count ? 1 : 0);
            int hits = 0, hitsAt1 = 0, hitsAt5 = 0, hitsAt10 = 0;
            double precisionSum = 0;
            for (int r = 0; r < ranked.Length; r++)
            {
                if (ranked[r].Label != q.Label) continue;
                hits++;
                precisionSum += (double)hits / (r + 1);
                if (r < 1) hitsAt1++;
                if (r < 5) hitsAt5++;
                if (r < 10) hitsAt10++;
            }
            results[i] = (q.Label, hitsAt1, hitsAt5 / 5.0, hitsAt10 / 10.0,
                relevant == 0 ? 0 : (double)hitsAt10 / relevant, relevant == 0 ? 0 : precisionSum / relevant,
                ranked.Length > 0 ? ranked[0].Label : null);
        });
        var classes = results.GroupBy(r => r.Label, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new ClassScores(g.Key, g.Count(), g.Average(r => r.P1), g.Average(r => r.P10),
                g.Average(r => r.Ap))).ToArray();
        var confused = results.Where(r => r.Top is not null && r.Top != r.Label)
            .GroupBy(r => (r.Label, r.Top!))
            .Select(g => new ConfusedPair(g.Key.Label, g.Key.Item2, g.Count()))
            .OrderByDescending(c => c.Queries).ThenBy(c => c.QueryLabel, StringComparer.Ordinal)
            .ThenBy(c => c.MatchedLabel, StringComparer.Ordinal).Take(confusions).ToArray();
        var byLabel = Enumerable.Range(0, queries.Count).GroupBy(i => queries[i].Label, StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => g.OrderBy(i => queries[i].Key, StringComparer.Ordinal).ToArray()).ToArray();
        var chosen = Enumerable.Range(0, byLabel.Length == 0 ? 0 : byLabel.Max(g => g.Length))
            .SelectMany(turn => byLabel.Where(g => turn < g.Length).Select(g => g[turn])).Take(samples)
            .Select(i => new SampleQuery(queries[i].Key, queries[i].Label, tops[i])).ToArray();
        return new RetrievalReport(queries.Count, gallery.Count, results.Average(r => r.P1), results.Average(r => r.P5),
            results.Average(r => r.P10), results.Average(r => r.R10), results.Average(r => r.Ap), classes, confused,
            chosen);
    }

    /// <summary>A unit-length copy (zeros stay zeros).</summary>
    public static float[] Normalized(float[] v)
    {
        var norm = TensorPrimitives.Norm(v);
        var unit = new float[v.Length];
        if (norm > 0) TensorPrimitives.Divide(v, norm, unit);
        return unit;
    }

    /// <summary>A deterministic split for datasets without one: a path is a query when the first 8 bytes of its
    /// XxHash64 (UTF-8), modulo 100, fall below <paramref name="queryPercent"/>.</summary>
    public static bool IsQuery(string path, int queryPercent = 20) =>
        XxHash64.HashToUInt64(Encoding.UTF8.GetBytes(path)) % 100 < (ulong)queryPercent;
}
