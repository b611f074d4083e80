using System.Diagnostics;
using Catalogs.Encoders;
using Catalogs.Imaging;
using SkiaSharp;

namespace Catalogs.Bench;

/// <summary>
/// JPEG bytes → vector on this machine's cores: the whole batching pipeline against its two parts measured alone
/// (decode + resize on all cores; ONNX Runtime inference on ready tensors).
/// </summary>
static class EncoderBenchmark
{
    public static async Task RunAsync(string model, string datasets, int[] sizes, int count)
    {
        var photos = Directory.GetFiles(Path.Combine(datasets, "clothing", "images"), "*.jpg",
            SearchOption.AllDirectories).Order().Take(count).ToArray();
        var pre = PreprocessOptions.ImageNet();
        var options = new EncoderOptions(model, "input", "464_quantized", pre, Pooling.GlobalAverage, Dequantize: true,
            Normalize: true);
        Console.WriteLine($"Encoder: {Path.GetFileName(model)} → 464_quantized, {Environment.ProcessorCount} cores, " +
            $"{photos.Length} photos per size, batch ≤ 32");
        foreach (var size in sizes)
        {
            var jpegs = photos.Select(p => Rescale(File.ReadAllBytes(p), size)).ToArray();
            double decode = await DecodeAlone(jpegs, pre);
            double infer = await InferenceAlone(options, jpegs, pre);
            double pipeline = await PipelineAsync(options, jpegs);
            double slower = Math.Min(decode, infer);
            double serial = 1 / (1 / decode + 1 / infer); // both parts share the same cores
            Console.WriteLine($"  {size,5} px: decode+resize {decode,7:F0} img/s | inference {infer,7:F0} img/s | " +
                $"pipeline {pipeline,7:F0} img/s" +
                $" = {pipeline / slower:P0} of the slower part, {pipeline / serial:P0} of the shared-core bound " +
                    $"({serial:F0} img/s)");
        }
    }

    static readonly TimeSpan WarmUp = TimeSpan.FromSeconds(4), Measure = TimeSpan.FromSeconds(8);

    /// <summary>Images per second of <paramref name="pass"/> (one pass over all photos), after a warm-up: ONNX Runtime
    /// runs its first seconds in a process markedly slower (about 300 against 750 images/s here).</summary>
    static async Task<double> Rate(int images, Func<Task> pass)
    {
        var warm = Stopwatch.StartNew();
        while (warm.Elapsed < WarmUp) await pass();
        int done = 0;
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < Measure) { await pass(); done += images; }
        return done / sw.Elapsed.TotalSeconds;
    }

    /// <summary>The photo re-encoded as a JPEG (quality 90) whose longer side is <paramref name="size"/>
    /// pixels.</summary>
    static byte[] Rescale(byte[] jpeg, int size)
    {
        using var bitmap = SKBitmap.Decode(jpeg);
        float scale = (float)size / Math.Max(bitmap.Width, bitmap.Height);
        using var resized = bitmap.Resize(new SKImageInfo((int)Math.Round(bitmap.Width * scale),
            (int)Math.Round(bitmap.Height * scale)), new SKSamplingOptions(SKCubicResampler.Mitchell));
        using var data = resized.Encode(SKEncodedImageFormat.Jpeg, 90);
        return data.ToArray();
    }

    static Task<double> DecodeAlone(byte[][] jpegs, PreprocessOptions pre) => Rate(jpegs.Length, () =>
    {
        Parallel.ForEach(jpegs, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
            () => new float[pre.TensorLength], (j, _, t) => { ImagePreprocessor.Preprocess(j, pre, t); return t; }, _ =>
                { });
        return Task.CompletedTask;
    });

    static async Task<double> InferenceAlone(EncoderOptions options, byte[][] jpegs, PreprocessOptions pre)
    {
        using var encoder = new OnnxEncoder(options);
        var tensors = new float[jpegs.Length * pre.TensorLength];
        for (int i = 0; i < jpegs.Length; i++) ImagePreprocessor.Preprocess(jpegs[i], pre,
            tensors.AsSpan(i * pre.TensorLength, pre.TensorLength));
        var batches = Enumerable.Range(0, (jpegs.Length + 31) / 32)
            .Select(b => tensors.AsSpan(b * 32 * pre.TensorLength, Math.Min(32,
                jpegs.Length - b * 32) * pre.TensorLength).ToArray()).ToArray();
        return await Rate(jpegs.Length, () =>
        {
            foreach (var batch in batches) encoder.Run(batch, batch.Length / pre.TensorLength);
            return Task.CompletedTask;
        });
    }

    static async Task<double> PipelineAsync(EncoderOptions options, byte[][] jpegs)
    {
        await using var encoder = new BatchingEncoder(new OnnxEncoder(options), new BatchingOptions(32,
            TimeSpan.FromMilliseconds(2)));
        async Task Once()
        {
            using var inFlight = new SemaphoreSlim(64);
            await Task.WhenAll(jpegs.Select(async j =>
            {
                await inFlight.WaitAsync();
                try { await encoder.EncodeAsync(j); } finally { inFlight.Release(); }
            }));
        }
        return await Rate(jpegs.Length, Once);
    }
}
