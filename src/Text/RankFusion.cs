namespace Catalogs.Text;

/// <summary>Reciprocal rank fusion of a dense (vector) ranking and a sparse (text) one, as Vertex AI Vector
/// Search's hybrid queries do: score = α / (60 + dense rank) + (1 − α) / (60 + sparse rank), ranks from 1, a
/// ranking that lacks an item adding nothing; α 1 is the dense ranking alone, 0 the sparse one.</summary>
public static class RankFusion
{
    public const int K = 60;

    public static List<(string Id, double Score)> Fuse(IReadOnlyList<string> dense, IReadOnlyList<string> sparse,
        double alpha)
    {
        var scores = new Dictionary<string, double>(StringComparer.Ordinal);
        for (int r = 0; r < dense.Count; r++)
            scores[dense[r]] = scores.GetValueOrDefault(dense[r]) + alpha / (K + r + 1);
        for (int r = 0; r < sparse.Count; r++)
            scores[sparse[r]] = scores.GetValueOrDefault(sparse[r]) + (1 - alpha) / (K + r + 1);
        return scores.OrderByDescending(s => s.Value).ThenBy(s => s.Key, StringComparer.Ordinal)
            .Select(s => (s.Key, s.Value)).ToList();
    }
}
