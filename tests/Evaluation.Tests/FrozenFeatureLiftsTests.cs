using Catalogs.Evaluation;

namespace Catalogs.Evaluation.Tests;

public sealed class FrozenFeatureLiftsTests
{
    static readonly LabeledVector[] Gallery =
    [
        new("a", "x", [2, 0]), new("b", "x", [0.9f, 0.1f]), new("c", "y", [0, 3]),
    ];

    [Fact]
    public void Query_expansion_adds_the_best_matches_weighted_by_similarity_to_the_power_alpha()
    {
        var query = new LabeledVector("q", "x", [0.6f, 0.8f]);
        var expanded = Assert.Single(FrozenFeatureLifts.ExpandQueries([query], Gallery, k: 1, alpha: 1));
        Assert.Equal(("q", "x"), (expanded.Key, expanded.Label));
        // Best match: c = (0, 1) with cosine 0.8, so q + 0.8 c = (0.6, 1.6), normalised.
        float norm = MathF.Sqrt(0.36f + 2.56f);
        Assert.Equal([0.6f / norm, 1.6f / norm], expanded.Vector, (p, q) => Math.Abs(p - q) < 1e-5);
        var none = FrozenFeatureLifts.ExpandQueries([query], Gallery, k: 0)[0];
        Assert.Equal([0.6f, 0.8f], none.Vector, (p, q) => Math.Abs(p - q) < 1e-6);
    }

    [Fact]
    public void Database_augmentation_with_one_neighbour_leaves_items_alone_and_with_more_pulls_duplicates_together()
    {
        var same = FrozenFeatureLifts.AugmentDatabase(Gallery, k: 1);
        Assert.Equal([1f, 0f], same[0].Vector);
        Assert.Equal([0f, 1f], same[2].Vector);
        var augmented = FrozenFeatureLifts.AugmentDatabase(Gallery, k: 2, alpha: 3);
        Assert.Equal(Gallery.Select(g => g.Key), augmented.Select(g => g.Key));
        static float Cos(float[] p, float[] q) => p[0] * q[0] + p[1] * q[1];
        float before = Cos(same[0].Vector, same[1].Vector), after = Cos(augmented[0].Vector, augmented[1].Vector);
        Assert.True(after > before, $"{before} → {after}");
        Assert.All(augmented, g => Assert.Equal(1, MathF.Sqrt(Cos(g.Vector, g.Vector)), 5));
    }
}
