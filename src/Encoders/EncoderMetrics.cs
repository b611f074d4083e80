using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Catalogs.Encoders;

/// <summary>The encoders' instruments (meter <c>Catalogs.Encoders</c>), tagged with the model file: how well
/// requests batch and what one inference call costs.</summary>
static class EncoderMetrics
{
    static readonly Meter Meter = new("Catalogs.Encoders");

    static readonly Histogram<int> BatchSize = Meter.CreateHistogram<int>("catalogs.encoder.batch.size", "{image}",
        "Images per inference call", advice: new() { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64, 128] });

    static readonly Histogram<double> InferenceDuration = Meter.CreateHistogram<double>(
        "catalogs.encoder.inference.duration", "s", "Time of one inference call (a whole batch)");

    public static void Inferred(string model, int images, TimeSpan elapsed)
    {
        var tags = new TagList { { "model", model } };
        BatchSize.Record(images, tags);
        InferenceDuration.Record(elapsed.TotalSeconds, tags);
    }
}
