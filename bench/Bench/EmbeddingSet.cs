using System.Diagnostics;
using Catalogs.Encoders;
using Catalogs.Imaging;
using SkiaSharp;

namespace Catalogs.Bench;

/// <summary>
/// Real embeddings for the ANN benchmark: the dataset photos through the catalog encoder (MobileNetV2, 464_quantized,
/// pooled, normalised), each photo many times with a different random crop, flip and colour jitter. The base set comes
/// from the train split (food) and all clothing photos; the queries from the food val split, so no query photo is in
/// the base. Writes base.fvecs and query.fvecs.
/// </summary>
static class EmbeddingSet
{
    const int Batch = 32;

    public static void Run(string model, string datasets, string output, int baseCount, int queryCount)
    {
        var train = new List<string>();
        var val = new List<string>();
        foreach (var line in File.ReadLines(Path.Combine(datasets, "food", "labels.csv")).Skip(1))
        {
            var cells = line.Split(',');
            (cells[1] == "val" ? val : train).Add(Path.Combine(datasets, "food", cells[0]));
        }
        train.AddRange(File.ReadLines(Path.Combine(datasets, "clothing", "labels.csv")).Skip(1).Select(l =>
            Path.Combine(datasets, "clothing", l.Split(',')[0])));
        Console.WriteLine($"Embeddings: {train.Count} base photos → {baseCount:N0} augmented vectors, {val.Count} " +
            $"val photos → {queryCount:N0} queries");

        var pre = PreprocessOptions.ImageNet();
        using var encoder = new OnnxEncoder(new EncoderOptions(model, "input", "464_quantized", pre,
            Pooling.GlobalAverage, Dequantize: true, Normalize: true));
        Directory.CreateDirectory(output);
        Write(Path.Combine(output, "query.fvecs"), Embed(encoder, Load(val), queryCount, seed: 2, pre));
        Write(Path.Combine(output, "base.fvecs"), Embed(encoder, Load(train), baseCount, seed: 1, pre));
    }

    /// <summary>Decodes every photo once, scaled so its shorter side is 256 px (crops are taken from these).</summary>
    static SKBitmap[] Load(List<string> paths)
    {
        var bitmaps = new SKBitmap[paths.Count];
        var upright = PreprocessOptions.ImageNet(256); // centre 256 × 256
        Parallel.For(0, paths.Count, i => bitmaps[i] = ImagePreprocessor.DecodeAndResize(File.ReadAllBytes(paths[i]),
            upright));
        return bitmaps;
    }

    static IEnumerable<float[]> Embed(OnnxEncoder encoder, SKBitmap[] photos, int count, int seed,
        PreprocessOptions pre)
    {
        var sw = Stopwatch.StartNew();
        var tensors = new float[Batch * pre.TensorLength];
        for (int start = 0; start < count; start += Batch)
        {
            int n = Math.Min(Batch, count - start);
            Parallel.For(0, n, i =>
            {
                int variant = start + i;
                using var augmented = Augment(photos[variant % photos.Length], new Random(HashCode.Combine(seed,
                    variant)), pre);
                ImagePreprocessor.WriteTensor(augmented, pre, tensors.AsSpan(i * pre.TensorLength, pre.TensorLength));
            });
            foreach (var vector in encoder.Run(tensors[..(n * pre.TensorLength)], n)) yield return vector;
            if ((start / Batch) % 200 == 0) Console.WriteLine($"  {start + n:N0}/{count:N0} " +
                $"({(start + n) / sw.Elapsed.TotalSeconds:F0}/s)");
        }
    }

    /// <summary>A random crop of 50–100 % of the area (aspect 3:4 to 4:3), a horizontal flip half the time, and
    /// brightness, contrast and saturation each scaled by 0.75–1.25, resized to the model's input.</summary>
    static SKBitmap Augment(SKBitmap photo, Random rng, PreprocessOptions pre)
    {
        double area = photo.Width * photo.Height * (0.5 + 0.5 * rng.NextDouble());
        double aspect = Math.Exp(Math.Log(3.0 / 4) + rng.NextDouble() * Math.Log(16.0 / 9));
        int w = Math.Min(photo.Width, (int)Math.Sqrt(area * aspect)), h = Math.Min(photo.Height,
            (int)Math.Sqrt(area / aspect));
        int x = rng.Next(photo.Width - w + 1), y = rng.Next(photo.Height - h + 1);
        float brightness = Jitter(rng), contrast = Jitter(rng), saturation = Jitter(rng);

        var target = new SKBitmap(new SKImageInfo(pre.Width, pre.Height, SKColorType.Rgba8888, SKAlphaType.Premul));
        using var canvas = new SKCanvas(target);
        canvas.Clear(SKColors.White);
        if (rng.Next(2) == 0)
        {
            canvas.Translate(pre.Width, 0);
            canvas.Scale(-1, 1);
        }
        using var paint = new SKPaint
        {
            ColorFilter = SKColorFilter.CreateColorMatrix(ColourMatrix(brightness, contrast, saturation)),
        };
        using var image = SKImage.FromBitmap(photo);
        canvas.DrawImage(image, SKRect.Create(x, y, w, h), SKRect.Create(pre.Width, pre.Height),
            new SKSamplingOptions(SKCubicResampler.Mitchell), paint);
        canvas.Flush();
        return target;
    }

    static float Jitter(Random rng) => (float)(0.75 + 0.5 * rng.NextDouble());

    /// <summary>Saturation (towards the pixel's luma), then contrast (around mid-grey), then brightness, as one 4×5
    /// matrix.</summary>
    static float[] ColourMatrix(float brightness, float contrast, float saturation)
    {
        const float r = 0.299f, g = 0.587f, b = 0.114f;
        float s = saturation, k = contrast * brightness, offset = (0.5f - 0.5f * contrast) * brightness;
        float[] row(float wr, float wg, float wb) => [k * wr, k * wg, k * wb, 0, offset];
        var red = row((1 - s) * r + s, (1 - s) * g, (1 - s) * b);
        var green = row((1 - s) * r, (1 - s) * g + s, (1 - s) * b);
        var blue = row((1 - s) * r, (1 - s) * g, (1 - s) * b + s);
        return [.. red, .. green, .. blue, 0, 0, 0, 1, 0];
    }

    static void Write(string path, IEnumerable<float[]> vectors)
    {
        using var stream = new BufferedStream(File.Create(path), 1 << 20);
        var header = new byte[4];
        foreach (var v in vectors)
        {
            BitConverter.TryWriteBytes(header, v.Length);
            stream.Write(header);
            stream.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(v.AsSpan()));
        }
    }
}
