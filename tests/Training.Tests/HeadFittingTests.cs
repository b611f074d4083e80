using Catalogs.Training;

namespace Catalogs.Training.Tests;

public sealed class HeadFittingTests
{
    static LabeledExample[] Examples(int labels, int perLabel, int dimensions = 12)
    {
        var random = new Random(labels * 100 + perLabel);
        return Enumerable.Range(0, labels * perLabel).Select(i =>
        {
            int label = i % labels;
            var v = Enumerable.Range(0, dimensions).Select(_ => (float)random.NextDouble()).ToArray();
            v[label % dimensions] += 2;
            return new LabeledExample($"images/{label}/{i}.jpg", $"label-{label}", v);
        }).ToArray();
    }

    [Fact]
    public void Too_few_labels_or_examples_per_label_are_refused_with_the_reason()
    {
        Assert.Contains("at least 2 labels; the examples have 1",
            HeadFitting.Refusal(Examples(1, 10)));
        var few = Examples(3, 6).Where(e => e.Label != "label-2" || e.Key.EndsWith("2.jpg")).ToArray();
        Assert.Equal("A head needs at least 5 examples per label; 1 of 3 have fewer: label-2 (1).",
            HeadFitting.Refusal(few));
        Assert.Null(HeadFitting.Refusal(Examples(3, 6)));
        var error = Assert.Throws<ArgumentException>(() =>
            HeadFitting.Fit(Examples(1, 10), new HeadFitOptions(HeadKind.Lda)));
        Assert.Contains("at least 2 labels", error.Message);
    }

    [Theory]
    [InlineData(HeadKind.PcaWhitening, 8)]
    [InlineData(HeadKind.Lda, 3)] // labels − 1
    [InlineData(HeadKind.Trained, 8)]
    public void Every_kind_fits_a_head_of_the_dimensions_it_can_give(HeadKind kind, int dimensions)
    {
        var examples = Examples(4, 20);
        var fitted = HeadFitting.Fit(examples, new HeadFitOptions(kind, 8,
            new HeadTrainingOptions(Epochs: 5, LearningRate: 1e-2)));
        Assert.Equal(dimensions, fitted.Head.OutputDimensions);
        Assert.Equal(12, fitted.Head.InputDimensions);
        Assert.Equal(["label-0", "label-1", "label-2", "label-3"], fitted.Labels);
        Assert.Equal(kind == HeadKind.Trained, fitted.Training is not null);
        Assert.Equal(fitted.Head.Hash(), HeadFitting.Fit(examples, new HeadFitOptions(kind, 8,
            new HeadTrainingOptions(Epochs: 5, LearningRate: 1e-2))).Head.Hash());
    }
}
