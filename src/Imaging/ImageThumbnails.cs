using SkiaSharp;

namespace Catalogs.Imaging;

/// <summary>Small previews of product images: upright, within a square, aspect kept, on white, as JPEG.</summary>
public static class ImageThumbnails
{
    /// <summary>The image scaled so its longer side is <paramref name="maxSide"/> (never enlarged), as JPEG bytes.
    /// Throws <see cref="ImageRejectedException"/> for images the pipeline refuses.</summary>
    public static byte[] Create(ReadOnlySpan<byte> image, int maxSide, ImageLimits? limits = null, int quality = 85)
    {
        var header = ImagePreprocessor.ReadHeader(image, limits);
        bool swaps = header.Origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom
            or SKEncodedOrigin.LeftBottom;
        int width = swaps ? header.Height : header.Width, height = swaps ? header.Width : header.Height;
        double scale = Math.Min(1.0, (double)maxSide / Math.Max(width, height));
        int w = Math.Max(1, (int)Math.Round(width * scale)), h = Math.Max(1, (int)Math.Round(height * scale));
        // Proportional target sizes: stretching to them keeps the aspect ratio.
        var options = new PreprocessOptions(w, h, ResizeMode.Stretch, ChannelOrder.Rgb, [0, 0, 0], [1, 1, 1]);
        using var bitmap = ImagePreprocessor.DecodeAndResize(image, options, limits);
        using var data = bitmap.Encode(SKEncodedImageFormat.Jpeg, quality);
        return data.ToArray();
    }

    /// <summary>The media type of an image's format.</summary>
    public static string MediaType(ImageFormat format) => format switch
    {
        ImageFormat.Jpeg => "image/jpeg",
        ImageFormat.Png => "image/png",
        ImageFormat.Gif => "image/gif",
        ImageFormat.WebP => "image/webp",
        _ => "image/bmp",
    };
}
