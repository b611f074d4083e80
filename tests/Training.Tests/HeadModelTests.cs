using Catalogs.Training;

namespace Catalogs.Training.Tests;

public sealed class HeadModelTests
{
    static (float[][] Features, int[] Labels) Data(int count, int dimensions, int classes, int seed)
    {
        var random = new Random(seed);
        var centres = Enumerable.Range(0, classes)
            .Select(_ => Enumerable.Range(0, dimensions).Select(_ => (float)random.NextDouble()).ToArray()).ToArray();
        var labels = Enumerable.Range(0, count).Select(i => i % classes).ToArray();
        var features = labels.Select(l => centres[l].Select(c => c + (float)(random.NextDouble() - 0.5)).ToArray())
            .ToArray();
        return (features, labels);
    }

    [Theory]
    [InlineData(HeadLoss.SoftmaxCrossEntropy)]
    [InlineData(HeadLoss.ProxyAnchor)]
    [InlineData(HeadLoss.Both)]
    public void Gradients_match_finite_differences_of_the_loss(HeadLoss kind)
    {
        var (features, labels) = Data(12, 7, 3, seed: 4);
        var model = new HeadModel(7, 5, 3, features.Select(f => f.Average()).Take(7).ToArray());
        model.Initialise(new Random(2));
        // A smaller α than the default keeps the proxy-anchor terms smooth enough for float differences.
        var loss = HeadLossSettings.For(kind) with { Alpha = 4, Scale = 4 };
        var batch = Enumerable.Range(0, 12).ToArray();
        var gradients = model.Parameters.Select(p => new float[p.Length]).ToArray();
        model.LossAndGradients(features, labels, batch, loss, gradients);
        var scratch = model.Parameters.Select(p => new float[p.Length]).ToArray();
        const float step = 1e-2f;
        int checkedEntries = 0;
        for (int p = 0; p < model.Parameters.Length; p++)
            for (int i = 0; i < model.Parameters[p].Length; i++)
            {
                var values = model.Parameters[p];
                float kept = values[i];
                values[i] = kept + step;
                double up = model.LossAndGradients(features, labels, batch, loss, scratch);
                values[i] = kept - step;
                double down = model.LossAndGradients(features, labels, batch, loss, scratch);
                values[i] = kept;
                double numeric = (up - down) / (2 * step);
                Assert.True(Math.Abs(numeric - gradients[p][i]) <= 2e-3 + 2e-2 * Math.Abs(numeric),
                    $"parameter {p}[{i}]: analytic {gradients[p][i]}, finite difference {numeric}");
                checkedEntries++;
            }
        Assert.Equal(5 * 7 + 5 + 3 * 5, checkedEntries);
        Assert.Contains(gradients, g => g.Any(x => Math.Abs(x) > 1e-3)); // not trivially zero
    }

    [Fact]
    public void Training_separates_labels_the_raw_features_confuse_and_is_deterministic()
    {
        // Two informative dimensions buried under 30 noisy ones: raw cosine ranks by noise, the head finds them.
        var random = new Random(9);
        LabeledFeatures Make(int count)
        {
            var labels = Enumerable.Range(0, count).Select(i => i % 4).ToArray();
            var vectors = labels.Select(l =>
            {
                var v = Enumerable.Range(0, 32).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
                v[0] = (l & 1) == 0 ? 0.3f : -0.3f;
                v[1] = (l & 2) == 0 ? 0.3f : -0.3f;
                return v;
            }).ToArray();
            return new LabeledFeatures(vectors, labels);
        }
        var training = Make(400);
        var validation = Make(80);
        var options = new HeadTrainingOptions(Dimensions: 8, Epochs: 40, BatchSize: 64, LearningRate: 3e-2);
        var epochs = new List<EpochReport>();
        var result = HeadTrainer.Train(training, validation, options, epochs.Add);
        Assert.True(result.RawValidationPrecisionAt10 < 0.5, $"raw {result.RawValidationPrecisionAt10}");
        Assert.True(result.ValidationPrecisionAt10 > 0.9, $"trained {result.ValidationPrecisionAt10}");
        Assert.Equal(result.Epochs, epochs);
        Assert.True(epochs[^1].Loss < epochs[0].Loss);
        Assert.Equal(8, result.Head.OutputDimensions);
        var again = HeadTrainer.Train(training, validation, options);
        Assert.Equal(result.Head.ToBytes(), again.Head.ToBytes());
    }

    [Fact]
    public void Training_stops_when_cancelled()
    {
        var (features, labels) = Data(64, 6, 2, seed: 1);
        var data = new LabeledFeatures(features, labels);
        using var cancel = new CancellationTokenSource();
        Assert.ThrowsAny<OperationCanceledException>(() => HeadTrainer.Train(data, data,
            new HeadTrainingOptions(Dimensions: 4, Epochs: 1000, Patience: 1000), _ => cancel.Cancel(),
            cancel.Token));
    }
}
