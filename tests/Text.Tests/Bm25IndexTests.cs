namespace Catalogs.Text.Tests;

public class Bm25IndexTests
{
    [Fact]
    public void The_analyzer_stems_lowercases_and_drops_stop_words()
    {
        Assert.Equal(["appl", "green", "crisp"], TextAnalyzer.Terms("The Apples are GREEN and crisp"));
        Assert.Empty(TextAnalyzer.Terms("  "));
    }

    [Fact]
    public void Products_rank_by_bm25_and_changes_take_effect_at_once()
    {
        var index = new Bm25Index<string>();
        index.Upsert("granny", "Granny Smith apples: green, crisp and tart", "granny");
        index.Upsert("golden", "Golden Delicious apple, yellow and sweet", "golden");
        index.Upsert("lime", "A lime is green and sour", "lime");
        index.Upsert("milk", "Organic oat milk", "milk");
        // "green apple": both terms beat one; of two with one term each (equally rare), the shorter text wins.
        Assert.Equal(["granny", "lime", "golden"], index.Search("green apple", 10).Select(h => h.Id));
        // Hand-computed BM25 of "sour" in "lime" (n 4, df 1, tf 1, length 3; lengths 6, 5, 3, 3: average 4.25).
        double idf = Math.Log(1 + (4 - 1 + 0.5) / 1.5), norm = 1.2 * (1 - 0.75 + 0.75 * 3 / 4.25);
        Assert.Equal(idf * 2.2 / (1 + norm), index.Search("sour", 1)[0].Score, 9);
        Assert.Equal(["golden"],
            index.Search("green apple", 10, (_, payload) => payload == "golden").Select(h => h.Id));

        index.Upsert("granny", "Granny Smith, now described without the fruit's name", "granny");
        Assert.DoesNotContain("granny", index.Search("apple", 10).Select(h => h.Id));
        Assert.True(index.Remove("golden"));
        Assert.False(index.Remove("golden"));
        Assert.Empty(index.Search("apple", 10));
        index.Upsert("milk", "", "milk");
        Assert.Equal(2, index.Count);
    }

    [Fact]
    public void Sparse_embeddings_are_stable_sorted_and_saturate_term_frequency()
    {
        var e = SparseEmbedding.OfDocument(TextAnalyzer.Terms("apple apple apple pie"));
        Assert.Equal(2, e.Dimensions.Length);
        Assert.True(e.Dimensions[0] < e.Dimensions[1]);
        Assert.All(e.Dimensions, d => Assert.InRange(d, 0, int.MaxValue));
        Assert.Equal(SparseEmbedding.TermId("appl"), SparseEmbedding.TermId("appl"));
        int apple = Array.IndexOf(e.Dimensions, SparseEmbedding.TermId("appl"));
        Assert.Equal(2.2 * 3 / (3 + 1.2), e.Values[apple], 5);
        Assert.Equal(1f, e.Values[1 - apple], 5);
    }

    [Fact]
    public void Rank_fusion_weighs_the_dense_ranking_by_alpha()
    {
        var fused = RankFusion.Fuse(["a", "b", "c"], ["c", "d"], 0.5);
        Assert.Equal("c", fused[0].Id); // in both lists
        Assert.Equal(0.5 / 63 + 0.5 / 61, fused[0].Score, 12);
        Assert.Equal(["a", "b", "c"], RankFusion.Fuse(["a", "b", "c"], ["c", "d"], 1).Take(3).Select(f => f.Id));
        Assert.Equal(["c", "d"], RankFusion.Fuse(["a", "b", "c"], ["c", "d"], 0).Take(2).Select(f => f.Id));
    }
}
