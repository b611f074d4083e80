using SkiaSharp;

namespace Catalogs.Imaging;

/// <summary>The colour names a descriptor's dominant colour is one of (a product's <c>color</c> facet).</summary>
public enum ColorName { Red, Orange, Yellow, Green, Teal, Blue, Purple, Pink, Brown, Black, Gray, White }

/// <summary>
/// A product photo's colours as a 27-bin HSV histogram: 12 hues (centred every 30°, red on 0°) × dark/bright for
/// chromatic pixels (each pixel shared between its two nearest hues and between the two levels), and black, gray
/// and white for achromatic ones. Pixels count by a centre weight (products sit in
/// the middle of their photos), and the near-white background of studio shots is left out unless it is nearly all
/// there is. Bins are fractions quantised to bytes (sum ≈ 255), so a descriptor costs 27 bytes. Distance: half the
/// L1 distance of the histograms, 0 (same colours) to 1 (none shared).
/// </summary>
public static class ColorDescriptor
{
    public const int Hues = 12, Bins = Hues * 2 + 3;
    const int Black = Hues * 2, Gray = Black + 1, White = Black + 2;
    const int Side = 64;

    /// <summary>The descriptor of an image (decoded small, upright, flattened on white). Throws <see
    /// cref="ImageRejectedException"/>.</summary>
    public static byte[] Compute(ReadOnlySpan<byte> image, ImageLimits? limits = null)
    {
        var options = new PreprocessOptions(Side, Side, ResizeMode.Stretch, ChannelOrder.Rgb, [0, 0, 0], [1, 1, 1]);
        using var bitmap = ImagePreprocessor.DecodeAndResize(image, options, limits);
        return Compute(bitmap);
    }

    /// <summary>The descriptor of an RGBA bitmap (transparent pixels count as the white they are shown on).</summary>
    public static byte[] Compute(SKBitmap rgba)
    {
        var all = new double[Bins];
        var foreground = new double[Bins];
        double cx = (rgba.Width - 1) / 2.0, cy = (rgba.Height - 1) / 2.0;
        double sigma2 = 2 * Math.Pow(0.35 * Math.Max(rgba.Width, rgba.Height), 2);
        for (int y = 0; y < rgba.Height; y++)
            for (int x = 0; x < rgba.Width; x++)
            {
                var c = rgba.GetPixel(x, y);
                double alpha = c.Alpha / 255.0;
                // Over white, as the encoder sees it.
                double r = (c.Red * alpha + 255 * (1 - alpha)) / 255, g = (c.Green * alpha + 255 * (1 - alpha)) / 255,
                    b = (c.Blue * alpha + 255 * (1 - alpha)) / 255;
                double weight = Math.Exp(-((x - cx) * (x - cx) + (y - cy) * (y - cy)) / sigma2);
                Add(all, foreground, r, g, b, weight);
            }
        double total = all.Sum(), kept = foreground.Sum();
        // A white product (or a nearly empty photo): its white is its colour.
        var counts = kept >= 0.1 * total ? foreground : all;
        double sum = counts.Sum();
        return counts.Select(v => (byte)Math.Round(255 * v / sum)).ToArray();
    }

    /// <summary>Counts one pixel. Chromatic pixels are shared between the two nearest hue bins and between dark
    /// and bright (a ramp over value 0.45–0.75), so that close colours share bins instead of falling on either side
    /// of a boundary.</summary>
    static void Add(double[] all, double[] foreground, double r, double g, double b, double weight)
    {
        double max = Math.Max(r, Math.Max(g, b)), min = Math.Min(r, Math.Min(g, b)), chroma = max - min;
        double saturation = max == 0 ? 0 : chroma / max;
        if (max < 0.2 || saturation < 0.2 || chroma < 0.08)
        {
            int bin = max < 0.3 ? Black : max > 0.85 ? White : Gray;
            all[bin] += weight;
            if (bin != White) foreground[bin] += weight;
            return;
        }
        double hue = max == r ? 60 * (((g - b) / chroma) % 6) : max == g ? 60 * ((b - r) / chroma + 2)
            : 60 * ((r - g) / chroma + 4);
        if (hue < 0) hue += 360;
        // Bin h is centred on h × 30°.
        double position = hue / 30;
        int lower = (int)Math.Floor(position) % Hues, upper = (lower + 1) % Hues;
        double toUpper = position - Math.Floor(position);
        double bright = Math.Clamp((max - 0.45) / 0.3, 0, 1);
        foreach (var (h, share) in new[] { (lower, 1 - toUpper), (upper, toUpper) })
            foreach (var (level, part) in new[] { (0, 1 - bright), (1, bright) })
            {
                double w = weight * share * part;
                all[h * 2 + level] += w;
                foreground[h * 2 + level] += w;
            }
    }

    /// <summary>Half the L1 distance of two descriptors: 0 for the same colours, 1 for none in common.</summary>
    public static float Distance(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        if (a.Length != Bins || b.Length != Bins) return 1f;
        int totalA = 0, totalB = 0;
        for (int i = 0; i < Bins; i++) (totalA, totalB) = (totalA + a[i], totalB + b[i]);
        if (totalA == 0 || totalB == 0) return 1f;
        double distance = 0;
        for (int i = 0; i < Bins; i++) distance += Math.Abs((double)a[i] / totalA - (double)b[i] / totalB);
        return (float)(distance / 2);
    }

    /// <summary>The colour that holds the most of a descriptor: hues by their 30° bins (dark orange and red are
    /// brown), and black, gray, white.</summary>
    public static ColorName Dominant(ReadOnlySpan<byte> descriptor)
    {
        var mass = new int[Enum.GetValues<ColorName>().Length];
        for (int h = 0; h < Hues; h++)
        {
            int dark = descriptor[h * 2], bright = descriptor[h * 2 + 1];
            var name = NameOfHue(h);
            if (h is 0 or 1 && dark > 0) mass[(int)ColorName.Brown] += dark;
            else mass[(int)name] += dark;
            mass[(int)name] += bright;
        }
        mass[(int)ColorName.Black] += descriptor[Black];
        mass[(int)ColorName.Gray] += descriptor[Gray];
        mass[(int)ColorName.White] += descriptor[White];
        return (ColorName)Array.IndexOf(mass, mass.Max());
    }

    static ColorName NameOfHue(int bin) => bin switch
    {
        0 => ColorName.Red,         // 345–15°
        1 => ColorName.Orange,      // 15–45°
        2 => ColorName.Yellow,      // 45–75°
        3 or 4 or 5 => ColorName.Green, // 75–165°
        6 => ColorName.Teal,        // 165–195°
        7 or 8 => ColorName.Blue,   // 195–255°
        9 => ColorName.Purple,      // 255–285°
        _ => ColorName.Pink,        // 285–345°
    };

    /// <summary>The name as products' <c>color</c> facet shows it.</summary>
    public static string Token(ColorName name) => name.ToString().ToLowerInvariant();
}
