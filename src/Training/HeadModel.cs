using System.Numerics.Tensors;

namespace Catalogs.Training;

/// <summary>Which losses train the head; both together by default (the classifier pulls a label together, the
/// proxy-anchor term pushes the hardest others away).</summary>
public enum HeadLoss { SoftmaxCrossEntropy, ProxyAnchor, Both }

/// <summary>
/// The trainable model: a linear feature layer <c>z = W (x − mean) + b</c> scaled to unit length (the part that is
/// kept as the encoder's head), and one proxy per label (the classification layer, thrown away after training).
/// Both losses read the cosine of each feature to each proxy:
/// <list type="bullet">
/// <item>normalised softmax cross-entropy with an additive margin (CosFace): logits <c>s (cos − m·[true label])</c>;
/// </item>
/// <item>proxy-anchor (Kim et al. 2020): for each label present in the batch,
/// <c>log(1 + Σ_pos e^{−α(cos − δ)})</c> over its positives, plus for every label
/// <c>log(1 + Σ_neg e^{α(cos + δ)})</c> over its negatives.</item>
/// </list>
/// <see cref="LossAndGradients"/> is the whole forward and backward pass, written out by hand (the tests check it
/// against finite differences).
/// </summary>
public sealed class HeadModel
{
    public HeadModel(int inputDimensions, int dimensions, int classes, float[] mean)
    {
        (InputDimensions, Dimensions, Classes, Mean) = (inputDimensions, dimensions, classes, mean);
        Weights = new float[dimensions * inputDimensions];
        Bias = new float[dimensions];
        Proxies = new float[classes * dimensions];
    }

    public int InputDimensions { get; }
    public int Dimensions { get; }
    public int Classes { get; }
    public float[] Mean { get; }
    public float[] Weights { get; }
    public float[] Bias { get; }
    public float[] Proxies { get; }

    /// <summary>Every parameter array, in a fixed order (the optimiser's and the gradients' layout).</summary>
    public float[][] Parameters => [Weights, Bias, Proxies];

    public HeadModel Clone()
    {
        var copy = new HeadModel(InputDimensions, Dimensions, Classes, Mean);
        for (int p = 0; p < Parameters.Length; p++) Parameters[p].CopyTo(copy.Parameters[p], 0);
        return copy;
    }

    /// <summary>The feature layer as a head an encoder applies.</summary>
    public LinearHead ToHead() =>
        new(InputDimensions, Dimensions, (float[])Mean.Clone(), (float[])Weights.Clone(), (float[])Bias.Clone());

    /// <summary>Random initial parameters: Gaussian feature layer (variance 1/input) and proxies.</summary>
    public void Initialise(Random random)
    {
        Fill(Weights, random, 1 / Math.Sqrt(InputDimensions));
        Fill(Proxies, random, 1);
    }

    static void Fill(float[] values, Random random, double sigma)
    {
        for (int i = 0; i < values.Length; i++)
        {
            // Box–Muller: one normal sample from two uniform ones.
            double u = 1 - random.NextDouble(), v = random.NextDouble();
            values[i] = (float)(sigma * Math.Sqrt(-2 * Math.Log(u)) * Math.Cos(2 * Math.PI * v));
        }
    }

    /// <summary>
    /// The loss of the batch <paramref name="batch"/> (indices into <paramref name="features"/>) and, into
    /// <paramref name="gradients"/> (laid out as <see cref="Parameters"/>, overwritten), its gradient.
    /// </summary>
    public double LossAndGradients(IReadOnlyList<float[]> features, IReadOnlyList<int> labels,
        IReadOnlyList<int> batch, HeadLossSettings loss, float[][] gradients)
    {
        int b = batch.Count, h = Dimensions, d = InputDimensions, classes = Classes;
        foreach (var g in gradients) Array.Clear(g);
        var centred = new float[b][];
        var unit = new float[b][];
        var norms = new float[b];
        Parallel.For(0, b, i =>
        {
            var x = centred[i] = new float[d];
            TensorPrimitives.Subtract(features[batch[i]], Mean, x);
            var z = unit[i] = new float[h];
            for (int o = 0; o < h; o++) z[o] = TensorPrimitives.Dot(Weights.AsSpan(o * d, d), x) + Bias[o];
            norms[i] = Math.Max(TensorPrimitives.Norm(z), 1e-12f);
            TensorPrimitives.Divide(z, norms[i], z);
        });
        var proxyNorms = new float[classes];
        var proxies = new float[classes][];
        for (int c = 0; c < classes; c++)
        {
            proxies[c] = Proxies.AsSpan(c * h, h).ToArray();
            proxyNorms[c] = Math.Max(TensorPrimitives.Norm(proxies[c]), 1e-12f);
            TensorPrimitives.Divide(proxies[c], proxyNorms[c], proxies[c]);
        }
        var cos = new double[b, classes];
        for (int i = 0; i < b; i++)
            for (int c = 0; c < classes; c++) cos[i, c] = TensorPrimitives.Dot(unit[i], proxies[c]);

        // dLoss/dcos, from each loss in turn.
        var g0 = new double[b, classes];
        double total = 0;
        if (loss.SoftmaxWeight > 0)
        {
            double sum = 0;
            var logits = new double[classes];
            for (int i = 0; i < b; i++)
            {
                int y = labels[batch[i]];
                for (int c = 0; c < classes; c++) logits[c] = loss.Scale * (cos[i, c] - (c == y ? loss.Margin : 0));
                double max = logits.Max(), normaliser = 0;
                for (int c = 0; c < classes; c++) normaliser += Math.Exp(logits[c] - max);
                sum += Math.Log(normaliser) + max - logits[y];
                for (int c = 0; c < classes; c++)
                {
                    double p = Math.Exp(logits[c] - max) / normaliser;
                    g0[i, c] += loss.SoftmaxWeight * loss.Scale * (p - (c == y ? 1 : 0)) / b;
                }
            }
            total += loss.SoftmaxWeight * sum / b;
        }
        if (loss.ProxyAnchorWeight > 0)
        {
            double alpha = loss.Alpha, delta = loss.Delta;
            var positives = new double[classes];
            var negatives = new double[classes];
            var present = new bool[classes];
            for (int i = 0; i < b; i++)
                for (int c = 0; c < classes; c++)
                {
                    if (labels[batch[i]] == c)
                    {
                        present[c] = true;
                        positives[c] += Math.Exp(-alpha * (cos[i, c] - delta));
                    }
                    else negatives[c] += Math.Exp(alpha * (cos[i, c] + delta));
                }
            int withPositives = present.Count(p => p);
            double positiveTerm = 0, negativeTerm = 0;
            for (int c = 0; c < classes; c++)
            {
                if (present[c]) positiveTerm += Math.Log(1 + positives[c]);
                negativeTerm += Math.Log(1 + negatives[c]);
            }
            total += loss.ProxyAnchorWeight * (positiveTerm / withPositives + negativeTerm / classes);
            for (int i = 0; i < b; i++)
                for (int c = 0; c < classes; c++)
                    g0[i, c] += loss.ProxyAnchorWeight * (labels[batch[i]] == c
                        ? -alpha * Math.Exp(-alpha * (cos[i, c] - delta)) / (1 + positives[c]) / withPositives
                        : alpha * Math.Exp(alpha * (cos[i, c] + delta)) / (1 + negatives[c]) / classes);
        }

        // Back through the cosines, the two normalisations and the feature layer.
        var gradWeights = gradients[0];
        var gradBias = gradients[1];
        var gradProxies = gradients[2];
        var gradZ = new float[b][];
        Parallel.For(0, b, i =>
        {
            var gf = new float[h];
            for (int c = 0; c < classes; c++) TensorPrimitives.MultiplyAdd(proxies[c], (float)g0[i, c], gf, gf);
            float along = TensorPrimitives.Dot(unit[i], gf);
            TensorPrimitives.MultiplyAdd(unit[i], -along, gf, gf);
            TensorPrimitives.Divide(gf, norms[i], gf);
            gradZ[i] = gf;
        });
        Parallel.For(0, h, o =>
        {
            var row = gradWeights.AsSpan(o * d, d);
            float bias = 0;
            for (int i = 0; i < b; i++)
            {
                TensorPrimitives.MultiplyAdd(centred[i], gradZ[i][o], row, row);
                bias += gradZ[i][o];
            }
            gradBias[o] = bias;
        });
        for (int c = 0; c < classes; c++)
        {
            var gp = new float[h];
            for (int i = 0; i < b; i++) TensorPrimitives.MultiplyAdd(unit[i], (float)g0[i, c], gp, gp);
            float along = TensorPrimitives.Dot(proxies[c], gp);
            TensorPrimitives.MultiplyAdd(proxies[c], -along, gp, gp);
            TensorPrimitives.Divide(gp, proxyNorms[c], gp);
            gp.CopyTo(gradProxies, c * h);
        }
        return total;
    }
}

/// <summary>The losses' weights and hyper-parameters (see <see cref="HeadModel"/>).</summary>
public sealed record HeadLossSettings(double SoftmaxWeight = 1, double ProxyAnchorWeight = 1, double Scale = 16,
    double Margin = 0.1, double Alpha = 32, double Delta = 0.1)
{
    public static HeadLossSettings For(HeadLoss loss) => loss switch
    {
        HeadLoss.SoftmaxCrossEntropy => new(ProxyAnchorWeight: 0),
        HeadLoss.ProxyAnchor => new(SoftmaxWeight: 0),
        _ => new(),
    };
}
