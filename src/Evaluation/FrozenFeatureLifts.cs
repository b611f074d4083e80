using System.Numerics.Tensors;

namespace Catalogs.Evaluation;

/// <summary>
/// The cheap lifts known for frozen features, applied to embeddings before retrieval (Radenović et al., "Fine-tuning
/// CNN image retrieval with no human annotation"):
/// <list type="bullet">
/// <item><b>αQE</b> (query expansion): the query becomes the weighted sum of itself and its <c>k</c> best gallery
/// matches, each weighted by its cosine similarity to the power α, and is searched again;</item>
/// <item><b>DBA</b> (database-side augmentation): every gallery item becomes the same weighted sum over its own
/// <c>k</c> nearest gallery neighbours (itself included), so that a product's embedding takes in its near
/// duplicates. Done once at indexing time; queries are unchanged.</item>
/// </list>
/// Both keep the keys and labels; the vectors come back with unit length.
/// </summary>
public static class FrozenFeatureLifts
{
    public static LabeledVector[] ExpandQueries(IReadOnlyList<LabeledVector> queries,
        IReadOnlyList<LabeledVector> gallery, int k = 2, double alpha = 3)
    {
        var units = gallery.Select(g => RetrievalEvaluation.Normalized(g.Vector)).ToArray();
        return Map(queries, (q, _) => Weighted(RetrievalEvaluation.Normalized(q.Vector), units, k, alpha,
            includeSelf: true));
    }

    public static LabeledVector[] AugmentDatabase(IReadOnlyList<LabeledVector> gallery, int k = 2,
        double alpha = 3)
    {
        var units = gallery.Select(g => RetrievalEvaluation.Normalized(g.Vector)).ToArray();
        // Each item is its own best neighbour, so "itself and k − 1 others" is the top k of the whole gallery.
        return Map(gallery, (_, i) => Weighted(units[i], units, k, alpha, includeSelf: false));
    }

    static LabeledVector[] Map(IReadOnlyList<LabeledVector> items, Func<LabeledVector, int, float[]> map)
    {
        var mapped = new LabeledVector[items.Count];
        Parallel.For(0, items.Count, i => mapped[i] = items[i] with { Vector = map(items[i], i) });
        return mapped;
    }

    /// <summary>The sum of <paramref name="query"/> (when <paramref name="includeSelf"/>) and its top
    /// <paramref name="k"/> among <paramref name="units"/>, each weighted by max(cos, 0)^α.</summary>
    static float[] Weighted(float[] query, float[][] units, int k, double alpha, bool includeSelf)
    {
        var scores = new float[units.Length];
        for (int j = 0; j < units.Length; j++) scores[j] = TensorPrimitives.Dot(query, units[j]);
        var top = Enumerable.Range(0, units.Length).OrderByDescending(j => scores[j]).ThenBy(j => j).Take(k)
            .Select(j => units[j]).ToArray();
        return Sum(query, top, alpha, includeSelf);
    }

    /// <summary>αQE of one query (unit length) from its best matches (unit length), as a search does it: the query
    /// plus each match weighted by max(cos, 0)^α, unit length.</summary>
    public static float[] Expand(float[] query, IReadOnlyList<float[]> matches, double alpha = 3) =>
        Sum(query, matches, alpha, includeSelf: true);

    static float[] Sum(float[] query, IReadOnlyList<float[]> matches, double alpha, bool includeSelf)
    {
        var sum = includeSelf ? (float[])query.Clone() : new float[query.Length];
        foreach (var m in matches)
            TensorPrimitives.MultiplyAdd(m, (float)Math.Pow(Math.Max(TensorPrimitives.Dot(query, m), 0), alpha), sum,
                sum);
        return RetrievalEvaluation.Normalized(sum);
    }
}
