using System.IO.Hashing;
using System.Text;

namespace Catalogs.Text;

/// <summary>A sparse embedding in Vertex AI Vector Search's shape (<c>sparseEmbedding: {values, dimensions}</c>):
/// term ids (a stable hash of the analyzed term) with their weights, ids ascending.</summary>
public sealed record SparseEmbedding(long[] Dimensions, float[] Values)
{
    /// <summary>The id of an analyzed term: the same in every process, and below 2³¹.</summary>
    public static long TermId(string term) => XxHash32.HashToUInt32(Encoding.UTF8.GetBytes(term)) & 0x7FFF_FFFF;

    /// <summary>A document's side: each term's saturated frequency, (k₁ + 1)·tf / (tf + k₁), BM25's term weight
    /// without the corpus (its idf is the query's side).</summary>
    public static SparseEmbedding OfDocument(IEnumerable<string> terms, double k1 = Bm25.K1)
    {
        var counts = terms.GroupBy(TermId).Select(g => (Id: g.Key, Tf: g.Count())).OrderBy(t => t.Id).ToArray();
        return new(counts.Select(c => c.Id).ToArray(),
            counts.Select(c => (float)((k1 + 1) * c.Tf / (c.Tf + k1))).ToArray());
    }
}
