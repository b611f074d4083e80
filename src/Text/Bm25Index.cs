namespace Catalogs.Text;

/// <summary>
/// An inverted index of product text ranked by Okapi BM25 (k₁ 1.2, b 0.75): each term's postings (product →
/// term frequency) and each product's length and <typeparamref name="TPayload"/> (what filters read, e.g. its
/// restricts). Upserts and removals take a lock that searches share, so a search sees every product whole or not
/// at all. Scores are BM25's, higher is better.
/// </summary>
public sealed class Bm25Index<TPayload>
{
    readonly ReaderWriterLockSlim sync = new();
    readonly Dictionary<string, Dictionary<string, int>> postings = new(StringComparer.Ordinal);
    readonly Dictionary<string, (string[] Terms, int Length, TPayload Payload)> documents =
        new(StringComparer.Ordinal);
    long totalLength;

    public int Count
    {
        get
        {
            sync.EnterReadLock();
            try { return documents.Count; }
            finally { sync.ExitReadLock(); }
        }
    }

    /// <summary>Indexes a product's text (replacing what it had); empty text removes it.</summary>
    public void Upsert(string id, string? text, TPayload payload)
    {
        var terms = TextAnalyzer.Terms(text);
        sync.EnterWriteLock();
        try
        {
            RemoveLocked(id);
            if (terms.Count == 0) return;
            foreach (var g in terms.GroupBy(t => t, StringComparer.Ordinal))
            {
                if (!postings.TryGetValue(g.Key, out var list)) postings[g.Key] = list = new(StringComparer.Ordinal);
                list[id] = g.Count();
            }
            documents[id] = (terms.Distinct(StringComparer.Ordinal).ToArray(), terms.Count, payload);
            totalLength += terms.Count;
        }
        finally { sync.ExitWriteLock(); }
    }

    public bool Remove(string id)
    {
        sync.EnterWriteLock();
        try { return RemoveLocked(id); }
        finally { sync.ExitWriteLock(); }
    }

    bool RemoveLocked(string id)
    {
        if (!documents.Remove(id, out var old)) return false;
        foreach (var term in old.Terms)
            if (postings.TryGetValue(term, out var list) && list.Remove(id) && list.Count == 0) postings.Remove(term);
        totalLength -= old.Length;
        return true;
    }

    /// <summary>The <paramref name="k"/> best products for <paramref name="query"/> that <paramref name="accept"/>
    /// lets through, best first (ties by id), with their payloads.</summary>
    public List<(string Id, double Score, TPayload Payload)> Search(string query, int k,
        Func<string, TPayload, bool>? accept = null)
    {
        var terms = TextAnalyzer.Terms(query).Distinct(StringComparer.Ordinal).ToArray();
        var scores = new Dictionary<string, (double Score, TPayload Payload)>(StringComparer.Ordinal);
        sync.EnterReadLock();
        try
        {
            int n = documents.Count;
            if (n == 0) return [];
            double averageLength = (double)totalLength / n;
            foreach (var term in terms)
            {
                if (!postings.TryGetValue(term, out var list)) continue;
                double idf = Math.Log(1 + (n - list.Count + 0.5) / (list.Count + 0.5));
                foreach (var (id, tf) in list)
                {
                    var document = documents[id];
                    double norm = Bm25.K1 * (1 - Bm25.B + Bm25.B * document.Length / averageLength);
                    scores[id] = (scores.GetValueOrDefault(id).Score + idf * tf * (Bm25.K1 + 1) / (tf + norm),
                        document.Payload);
                }
            }
        }
        finally { sync.ExitReadLock(); }
        return scores.OrderByDescending(s => s.Value.Score).ThenBy(s => s.Key, StringComparer.Ordinal)
            .Where(s => accept?.Invoke(s.Key, s.Value.Payload) ?? true).Take(k)
            .Select(s => (s.Key, s.Value.Score, s.Value.Payload)).ToList();
    }
}

/// <summary>BM25's parameters: term-frequency saturation k₁ and length normalisation b.</summary>
public static class Bm25
{
    public const double K1 = 1.2, B = 0.75;
}
