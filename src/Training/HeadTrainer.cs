using System.Numerics.Tensors;

namespace Catalogs.Training;

/// <summary>Labeled backbone features: one label index (0…labels−1) per vector.</summary>
public sealed record LabeledFeatures(IReadOnlyList<float[]> Vectors, IReadOnlyList<int> Labels)
{
    public int Count => Vectors.Count;
}

public sealed record HeadTrainingOptions(
    int Dimensions = 256,
    HeadLoss Loss = HeadLoss.Both,
    int Epochs = 60,
    int BatchSize = 128,
    double LearningRate = 2e-3,
    double WeightDecay = 1e-4,
    /// <summary>The proxies learn this many times faster than the feature layer (they start random).</summary>
    double ProxyLearningRateFactor = 10,
    /// <summary>Epochs without a better validation precision@10 before training stops.</summary>
    int Patience = 10,
    int Seed = 1);

/// <summary>One finished epoch: mean training loss and precision@10 of the validation queries against the
/// training set embedded by the head as it stands.</summary>
public sealed record EpochReport(int Epoch, double Loss, double ValidationPrecisionAt10);

public sealed record HeadTrainingResult(LinearHead Head, int BestEpoch, double ValidationPrecisionAt10,
    double RawValidationPrecisionAt10, IReadOnlyList<EpochReport> Epochs);

/// <summary>
/// Trains a <see cref="HeadModel"/> on cached backbone features with AdamW (decoupled weight decay on the weights and
/// proxies, none on the bias), shuffled mini-batches, a cosine-decayed learning rate, and early stopping: after each
/// epoch the validation images query the training images through the head, and the head of the best epoch by
/// precision@10 is the result. Deterministic for a seed (the batches' order and the initial weights come from it;
/// the parallel loops each write their own outputs).
/// </summary>
public static class HeadTrainer
{
    public static HeadTrainingResult Train(LabeledFeatures training, LabeledFeatures validation,
        HeadTrainingOptions options, Action<EpochReport>? progress = null,
        CancellationToken cancellationToken = default)
    {
        if (training.Count == 0 || validation.Count == 0)
            throw new ArgumentException("Training needs training and validation images.");
        int d = training.Vectors[0].Length;
        int classes = Math.Max(training.Labels.Max(), validation.Labels.Max()) + 1;
        var mean = new float[d];
        foreach (var v in training.Vectors) TensorPrimitives.Add(mean, v, mean);
        TensorPrimitives.Divide(mean, training.Count, mean);
        var model = new HeadModel(d, options.Dimensions, classes, mean);
        var random = new Random(options.Seed);
        model.Initialise(random);
        var loss = HeadLossSettings.For(options.Loss);
        var optimiser = new AdamW(model.Parameters);
        var gradients = model.Parameters.Select(p => new float[p.Length]).ToArray();
        double raw = PrecisionAt10(validation, training, v => v);
        var best = (Model: model.Clone(), Epoch: 0, Precision: PrecisionAt10(validation, training, model.Embed));
        var history = new List<EpochReport>();
        var order = Enumerable.Range(0, training.Count).ToArray();
        int steps = Math.Max(1, options.Epochs * (int)Math.Ceiling(training.Count / (double)options.BatchSize));
        int step = 0;
        for (int epoch = 1; epoch <= options.Epochs; epoch++)
        {
            random.Shuffle(order);
            double sum = 0;
            int batches = 0;
            for (int start = 0; start < order.Length; start += options.BatchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var batch = new ArraySegment<int>(order, start, Math.Min(options.BatchSize, order.Length - start));
                sum += model.LossAndGradients(training.Vectors, training.Labels, batch, loss, gradients);
                batches++;
                double rate = options.LearningRate * 0.5 * (1 + Math.Cos(Math.PI * step++ / steps));
                optimiser.Step(gradients, [rate, rate, rate * options.ProxyLearningRateFactor],
                    [options.WeightDecay, 0, options.WeightDecay]);
            }
            var report = new EpochReport(epoch, sum / batches, PrecisionAt10(validation, training, model.Embed));
            history.Add(report);
            progress?.Invoke(report);
            if (report.ValidationPrecisionAt10 > best.Precision)
                best = (model.Clone(), epoch, report.ValidationPrecisionAt10);
            else if (epoch - best.Epoch >= options.Patience) break;
        }
        return new HeadTrainingResult(best.Model.ToHead(), best.Epoch, best.Precision, raw, history);
    }

    static float[] Embed(this HeadModel model, float[] vector) =>
        new LinearHead(model.InputDimensions, model.Dimensions, model.Mean, model.Weights, model.Bias).Apply(vector);

    /// <summary>Precision@10 of <paramref name="queries"/> against <paramref name="gallery"/> by cosine of their
    /// embeddings (relevant: the same label).</summary>
    public static double PrecisionAt10(LabeledFeatures queries, LabeledFeatures gallery, Func<float[], float[]> embed)
    {
        var g = gallery.Vectors.Select(v => Unit(embed(v))).ToArray();
        var hits = new double[queries.Count];
        Parallel.For(0, queries.Count, q =>
        {
            var v = Unit(embed(queries.Vectors[q]));
            var scores = new float[g.Length];
            for (int j = 0; j < g.Length; j++) scores[j] = TensorPrimitives.Dot(v, g[j]);
            var top = Enumerable.Range(0, g.Length).OrderByDescending(j => scores[j]).ThenBy(j => j).Take(10);
            hits[q] = top.Count(j => gallery.Labels[j] == queries.Labels[q]) / (double)Math.Min(10, g.Length);
        });
        return hits.Average();
    }

    static float[] Unit(float[] v)
    {
        var u = (float[])v.Clone();
        float norm = TensorPrimitives.Norm(u);
        if (norm > 0) TensorPrimitives.Divide(u, norm, u);
        return u;
    }

    /// <summary>Adam with decoupled weight decay (Loshchilov and Hutter), per parameter array.</summary>
    sealed class AdamW(float[][] parameters)
    {
        const double Beta1 = 0.9, Beta2 = 0.999, Epsilon = 1e-8;
        readonly float[][] first = parameters.Select(p => new float[p.Length]).ToArray();
        readonly float[][] second = parameters.Select(p => new float[p.Length]).ToArray();
        int t;

        public void Step(float[][] gradients, double[] rates, double[] decays)
        {
            t++;
            double correction1 = 1 - Math.Pow(Beta1, t), correction2 = 1 - Math.Pow(Beta2, t);
            for (int p = 0; p < parameters.Length; p++)
            {
                var (w, g, m, v) = (parameters[p], gradients[p], first[p], second[p]);
                float rate = (float)rates[p], decay = (float)(rates[p] * decays[p]);
                for (int i = 0; i < w.Length; i++)
                {
                    m[i] = (float)(Beta1 * m[i] + (1 - Beta1) * g[i]);
                    v[i] = (float)(Beta2 * v[i] + (1 - Beta2) * g[i] * g[i]);
                    double update = m[i] / correction1 / (Math.Sqrt(v[i] / correction2) + Epsilon);
                    w[i] -= (float)(rate * update) + decay * w[i];
                }
            }
        }
    }
}
