using MathNet.Numerics.LinearAlgebra;

namespace Catalogs.Training;

/// <summary>
/// Heads solved in closed form from a catalog's features (MathNet.Numerics eigendecompositions), no training loop:
/// <list type="bullet">
/// <item><b>PCA-whitening</b>: project onto the top principal directions and scale each to unit variance, so that
/// the directions every product shares (lighting, white backgrounds) stop dominating cosine similarity. Unsupervised:
/// needs no labels. The eigenvalues are shrunk towards their mean (<c>shrinkage</c>) so that noise directions are
/// not blown up.</item>
/// <item><b>LDA</b>: the directions that separate the labels most relative to the spread within a label (the top
/// eigenvectors of S_w⁻¹ S_b, at most labels − 1 of them), S_w regularised towards its mean variance.</item>
/// </list>
/// </summary>
public static class ClosedFormHeads
{
    /// <summary>PCA-whitening to <paramref name="dimensions"/> (capped at the features' rank).</summary>
    public static LinearHead PcaWhitening(IReadOnlyList<float[]> features, int dimensions, double shrinkage = 0.1)
    {
        var (x, mean) = Centred(features);
        var covariance = x.TransposeThisAndMultiply(x) / features.Count;
        var (values, vectors) = Descending(covariance);
        int rank = Math.Min(Math.Min(dimensions, features.Count - 1), values.Length);
        double floor = values.Take(rank).Average() * shrinkage;
        var weights = new float[rank * mean.Length];
        for (int o = 0; o < rank; o++)
        {
            double scale = 1 / Math.Sqrt(Math.Max(values[o], 0) + floor);
            for (int i = 0; i < mean.Length; i++) weights[o * mean.Length + i] = (float)(vectors[i, o] * scale);
        }
        return new LinearHead(mean.Length, rank, mean, weights, new float[rank]);
    }

    /// <summary>Linear discriminant analysis to at most <paramref name="dimensions"/> (and labels − 1).</summary>
    public static LinearHead Lda(IReadOnlyList<float[]> features, IReadOnlyList<int> labels, int dimensions,
        double regularisation = 0.1)
    {
        if (labels.Count != features.Count) throw new ArgumentException("One label per feature vector.");
        int classes = labels.Max() + 1;
        if (classes < 2) throw new ArgumentException("LDA needs at least two labels.");
        var (x, mean) = Centred(features);
        int d = mean.Length;
        var classMeans = Matrix<double>.Build.Dense(classes, d);
        var counts = new int[classes];
        for (int n = 0; n < features.Count; n++)
        {
            counts[labels[n]]++;
            classMeans.SetRow(labels[n], classMeans.Row(labels[n]) + x.Row(n));
        }
        for (int c = 0; c < classes; c++)
            if (counts[c] > 0) classMeans.SetRow(c, classMeans.Row(c) / counts[c]);
        var within = x.Clone();
        for (int n = 0; n < features.Count; n++) within.SetRow(n, x.Row(n) - classMeans.Row(labels[n]));
        var sw = within.TransposeThisAndMultiply(within) / features.Count;
        sw += Matrix<double>.Build.DenseIdentity(d) * (regularisation * sw.Trace() / d);
        var weighted = classMeans.Clone();
        for (int c = 0; c < classes; c++) weighted.SetRow(c, classMeans.Row(c) * Math.Sqrt(counts[c]));
        var sb = weighted.TransposeThisAndMultiply(weighted) / features.Count;
        // S_w = U S Uᵀ; in the space whitened by S_w^-1/2 the problem is the ordinary eigenproblem of S_b.
        var (swValues, swVectors) = Descending(sw);
        var whiten = Matrix<double>.Build.Dense(d, d, (r, c) => swVectors[c, r] / Math.Sqrt(swValues[r]));
        var (values, vectors) = Descending(whiten * sb * whiten.Transpose());
        int output = Math.Min(dimensions, Math.Min(classes - 1, values.Length));
        var projection = vectors.SubMatrix(0, d, 0, output).TransposeThisAndMultiply(whiten);
        var weights = new float[output * d];
        for (int o = 0; o < output; o++)
            for (int i = 0; i < d; i++) weights[o * d + i] = (float)projection[o, i];
        return new LinearHead(d, output, mean, weights, new float[output]);
    }

    static (Matrix<double> Centred, float[] Mean) Centred(IReadOnlyList<float[]> features)
    {
        if (features.Count < 2) throw new ArgumentException("A head needs at least two feature vectors.");
        int d = features[0].Length;
        if (features.Any(f => f.Length != d)) throw new ArgumentException("The feature vectors differ in length.");
        var mean = new double[d];
        foreach (var f in features)
            for (int i = 0; i < d; i++) mean[i] += f[i];
        for (int i = 0; i < d; i++) mean[i] /= features.Count;
        var x = Matrix<double>.Build.Dense(features.Count, d, (r, c) => features[r][c] - mean[c]);
        return (x, mean.Select(m => (float)m).ToArray());
    }

    /// <summary>Eigenvalues of a symmetric matrix, largest first, with their eigenvectors as columns.</summary>
    static (double[] Values, Matrix<double> Vectors) Descending(Matrix<double> symmetric)
    {
        var evd = symmetric.Evd(Symmetricity.Symmetric);
        var order = Enumerable.Range(0, symmetric.RowCount).OrderByDescending(i => evd.EigenValues[i].Real).ToArray();
        var vectors = Matrix<double>.Build.Dense(symmetric.RowCount, order.Length,
            (r, c) => evd.EigenVectors[r, order[c]]);
        return (order.Select(i => evd.EigenValues[i].Real).ToArray(), vectors);
    }
}
