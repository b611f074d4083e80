using System.IO.Hashing;
using System.Text;

namespace Catalogs.Training;

/// <summary>The heads a catalog can tune its encoder with.</summary>
public enum HeadKind { PcaWhitening, Lda, Trained }

/// <summary>A backbone embedding with its product's key and label.</summary>
public sealed record LabeledExample(string Key, string Label, float[] Vector);

public sealed record HeadFitOptions(HeadKind Kind, int Dimensions = 256, HeadTrainingOptions? Training = null,
    int ValidationPercent = 10);

/// <summary>A fitted head, the labels it was fitted on and, for a trained one, its epochs.</summary>
public sealed record FittedHead(LinearHead Head, HeadKind Kind, IReadOnlyList<string> Labels, int Examples,
    HeadTrainingResult? Training);

/// <summary>
/// Fits a head of any kind to labeled backbone embeddings: the one entry point for the API's training jobs and for
/// <c>catalogs eval</c>. A trained head holds out a deterministic part of the examples for early stopping
/// (<c>XxHash64(key) % 100 &lt; ValidationPercent</c>, keeping at least one example of every label for training).
/// </summary>
public static class HeadFitting
{
    /// <summary>The fewest labels and examples per label a catalog's labels must have to fit a head.</summary>
    public const int MinimumLabels = 2, MinimumExamplesPerLabel = 5;

    /// <summary>Why these examples cannot fit a head, or null when they can.</summary>
    public static string? Refusal(IReadOnlyList<LabeledExample> examples)
    {
        var counts = examples.GroupBy(e => e.Label, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count());
        if (counts.Count < MinimumLabels)
            return $"A head needs at least {MinimumLabels} labels; the examples have {counts.Count}.";
        var few = counts.Where(c => c.Value < MinimumExamplesPerLabel).OrderBy(c => c.Key, StringComparer.Ordinal)
            .ToArray();
        if (few.Length > 0)
            return $"A head needs at least {MinimumExamplesPerLabel} examples per label; " +
                $"{few.Length} of {counts.Count} have " +
                $"fewer: {string.Join(", ", few.Take(10).Select(c => $"{c.Key} ({c.Value})"))}" +
                (few.Length > 10 ? ", …" : "") + ".";
        return examples.Select(e => e.Vector.Length).Distinct().Count() == 1
            ? null : "The examples' vectors differ in length.";
    }

    public static FittedHead Fit(IReadOnlyList<LabeledExample> examples, HeadFitOptions options,
        Action<EpochReport>? progress = null, CancellationToken cancellationToken = default)
    {
        if (Refusal(examples) is { } refusal) throw new ArgumentException(refusal);
        if (options.Dimensions < 1) throw new ArgumentOutOfRangeException(nameof(options), "Dimensions must be ≥ 1.");
        var labels = examples.Select(e => e.Label).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)
            .ToArray();
        var index = labels.Select((l, i) => (l, i)).ToDictionary(x => x.l, x => x.i, StringComparer.Ordinal);
        var vectors = examples.Select(e => e.Vector).ToArray();
        var ids = examples.Select(e => index[e.Label]).ToArray();
        switch (options.Kind)
        {
            case HeadKind.PcaWhitening:
                return new(ClosedFormHeads.PcaWhitening(vectors, options.Dimensions), options.Kind, labels,
                    examples.Count, null);
            case HeadKind.Lda:
                return new(ClosedFormHeads.Lda(vectors, ids, options.Dimensions), options.Kind, labels,
                    examples.Count, null);
            default:
                var held = examples.Select(e => IsHeldOut(e.Key, options.ValidationPercent)).ToArray();
                // Every label keeps its first example for training, whatever the hash says.
                foreach (var first in Enumerable.Range(0, examples.Count).GroupBy(i => ids[i]).Select(g => g.First()))
                    held[first] = false;
                LabeledFeatures Part(bool validation)
                {
                    var at = Enumerable.Range(0, examples.Count).Where(i => held[i] == validation).ToArray();
                    return new(at.Select(i => vectors[i]).ToArray(), at.Select(i => ids[i]).ToArray());
                }
                var training = options.Training ?? new HeadTrainingOptions();
                var (fit, validation) = (Part(false), Part(true));
                // Too few examples to hold any out: early stopping watches the training examples themselves.
                if (validation.Count == 0) validation = fit;
                var result = HeadTrainer.Train(fit, validation, training with { Dimensions = options.Dimensions },
                    progress, cancellationToken);
                return new(result.Head, options.Kind, labels, examples.Count, result);
        }
    }

    // Seeded, so that the held-out part does not line up with an evaluation's unseeded hash split of the same keys.
    static bool IsHeldOut(string key, int percent) =>
        XxHash64.HashToUInt64(Encoding.UTF8.GetBytes(key), seed: 0x5EED) % 100 < (ulong)percent;
}
