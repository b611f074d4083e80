using Catalogs.Training;

namespace Catalogs.Training.Tests;

public sealed class LinearHeadTests
{
    [Fact]
    public void A_head_maps_to_unit_length_and_round_trips_through_its_bytes()
    {
        var head = new LinearHead(3, 2, [1, 0, 0], [1, 0, 0, 0, 2, 0], [0, 0]);
        var y = head.Apply([2, 1, 5]);
        Assert.Equal(new[] { 1 / MathF.Sqrt(5), 2 / MathF.Sqrt(5) }, y, (a, b) => Math.Abs(a - b) < 1e-6);
        var copy = LinearHead.FromBytes(head.ToBytes());
        Assert.Equal(head.Hash(), copy.Hash());
        Assert.Equal(y, copy.Apply([2, 1, 5]));
        Assert.Throws<FormatException>(() => LinearHead.FromBytes(head.ToBytes().AsSpan(0, 20)));
        Assert.Throws<FormatException>(() => LinearHead.FromBytes("not a head"u8));
        Assert.Throws<ArgumentException>(() => head.Apply([1, 2]));
    }

    [Fact]
    public void Pca_whitening_gives_unit_variance_uncorrelated_outputs()
    {
        var random = new Random(3);
        var features = Enumerable.Range(0, 500).Select(_ =>
        {
            double a = random.NextDouble() * 4, b = random.NextDouble();
            return new[] { (float)(a + b), (float)(a - b), (float)(0.5 * a), 1f };
        }).ToArray();
        var head = ClosedFormHeads.PcaWhitening(features, 2, shrinkage: 0);
        Assert.Equal(2, head.OutputDimensions);
        // Before the final normalisation the projections are white: check W Σ Wᵀ ≈ I on the raw projection.
        var projected = features.Select(f => Enumerable.Range(0, 2).Select(o => Enumerable.Range(0, 4)
            .Sum(i => (double)head.Weights[o * 4 + i] * (f[i] - head.Mean[i]))).ToArray()).ToArray();
        for (int p = 0; p < 2; p++)
            for (int q = 0; q < 2; q++)
                Assert.Equal(p == q ? 1 : 0, projected.Average(v => v[p] * v[q]), 2);
    }

    [Fact]
    public void Lda_keeps_the_direction_that_separates_the_labels()
    {
        var random = new Random(5);
        var labels = Enumerable.Range(0, 300).Select(i => i % 2).ToArray();
        // Label in dimension 2 (small spread), noise with a large spread in dimensions 0 and 1.
        var features = labels.Select(l => new[] { (float)(random.NextDouble() * 10), (float)(random.NextDouble() * 10),
            l + (float)(random.NextDouble() * 0.2) }).ToArray();
        var head = ClosedFormHeads.Lda(features, labels, 5, regularisation: 1e-3);
        Assert.Equal(1, head.OutputDimensions); // labels − 1
        var w = head.Weights;
        Assert.True(Math.Abs(w[2]) > 10 * Math.Max(Math.Abs(w[0]), Math.Abs(w[1])), string.Join(", ", w));
        Assert.Throws<ArgumentException>(() => ClosedFormHeads.Lda(features, labels.Select(_ => 0).ToArray(), 5));
    }
}
