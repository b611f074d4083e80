using SkiaSharp;

namespace Catalogs.Imaging;

/// <summary>Facts read from an image's header without decoding its pixels.</summary>
public readonly record struct ImageHeader(ImageFormat Format, int Width, int Height, SKEncodedOrigin Origin);

/// <summary>
/// Turns encoded image bytes into a normalised NCHW float tensor. Thread-safe and stateless; every call decodes
/// at the smallest size the codec allows that still covers the target, so big photos cost little.
/// </summary>
public static class ImagePreprocessor
{
    static readonly SKSamplingOptions Halving = new(SKFilterMode.Linear, SKMipmapMode.None);
    static readonly SKSamplingOptions Final = new(SKCubicResampler.Mitchell);

    /// <summary>Identifies the format from its magic bytes and reads the header. Throws <see
    /// cref="ImageRejectedException"/>.</summary>
    public static ImageHeader ReadHeader(ReadOnlySpan<byte> bytes, ImageLimits? limits = null)
    {
        using var codec = OpenCodec(bytes, limits ?? ImageLimits.Default, out var format);
        return new ImageHeader(format, codec.Info.Width, codec.Info.Height, codec.EncodedOrigin);
    }

    /// <summary>Decodes, orients, flattens on white, resizes and normalises <paramref name="bytes"/> into
    /// <paramref name="destination"/> (length <see cref="PreprocessOptions.TensorLength"/>, planar channels).</summary>
    public static void Preprocess(ReadOnlySpan<byte> bytes, PreprocessOptions options, Span<float> destination,
        ImageLimits? limits = null)
    {
        if (destination.Length != options.TensorLength)
            throw new ArgumentException($"Destination holds {destination.Length} floats; {options.TensorLength} are " +
                $"needed.", nameof(destination));
        using var upright = DecodeUpright(bytes, options, limits ?? ImageLimits.Default);
        using var resized = ResizeOnWhite(upright, options);
        WriteTensor(resized, options, destination);
    }

    /// <summary>Decodes and resizes to the target without normalising: RGBA bytes, e.g. for thumbnails and
    /// tests.</summary>
    public static SKBitmap DecodeAndResize(ReadOnlySpan<byte> bytes, PreprocessOptions options, ImageLimits? limits =
        null)
    {
        using var upright = DecodeUpright(bytes, options, limits ?? ImageLimits.Default);
        return ResizeOnWhite(upright, options);
    }

    /// <summary>The part of an image inside a box given in fractions of its upright width and height, as a PNG
    /// (lossless, so the encoder sees the region's pixels as decoded): a shopper searching by one item of a photo.
    /// Decoded as small as keeps the region at least <paramref name="minimumSide"/> pixels across. Throws <see
    /// cref="ImageRejectedException"/>.</summary>
    public static byte[] CropToPng(ReadOnlySpan<byte> bytes, float x, float y, float width, float height,
        ImageLimits? limits = null, int minimumSide = 512)
    {
        if (!(x >= 0 && y >= 0 && width > 0 && height > 0 && x + width <= 1.0001f && y + height <= 1.0001f))
            throw new ArgumentOutOfRangeException(nameof(width), "The box must lie inside the image.");
        // Stretch to a target that covers the region at minimumSide: the codec then decodes no larger than needed.
        var decodeAt = new PreprocessOptions((int)Math.Ceiling(minimumSide / width),
            (int)Math.Ceiling(minimumSide / height), ResizeMode.Stretch, ChannelOrder.Rgb, [0, 0, 0], [1, 1, 1]);
        using var upright = DecodeUpright(bytes, decodeAt, limits ?? ImageLimits.Default);
        int left = (int)Math.Floor(x * upright.Width), top = (int)Math.Floor(y * upright.Height);
        int w = Math.Clamp((int)Math.Round(width * upright.Width), 1, upright.Width - left);
        int h = Math.Clamp((int)Math.Round(height * upright.Height), 1, upright.Height - top);
        using var region = Draw(upright, w, h, SKMatrix.CreateTranslation(-left, -top), SKSamplingOptions.Default,
            SKColors.Transparent);
        using var image = SKImage.FromBitmap(region);
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);
        return png.ToArray();
    }

    static SKCodec OpenCodec(ReadOnlySpan<byte> bytes, ImageLimits limits, out ImageFormat format)
    {
        format = ImageInspector.Sniff(bytes) ?? throw new ImageRejectedException(ImageRejection.UnsupportedFormat,
            "Unsupported image format: expected JPEG, PNG, WebP, GIF or BMP.");
        var declared = ImageInspector.Inspect(bytes, format, limits);
        // The codec owns the stream it is given.
        var codec = SKCodec.Create(new SKMemoryStream(bytes.ToArray()), out var result)
            ?? throw new ImageRejectedException(ImageRejection.Undecodable,
                $"The {format.Name()} image cannot be decoded ({result}): its header is damaged or cut short.");
        int width = codec.Info.Width, height = codec.Info.Height;
        if (width == declared.Width && height == declared.Height) return codec;
        // The codec read another size than the headers say: never decode a size that was not checked.
        codec.Dispose();
        throw new ImageRejectedException(ImageRejection.Undecodable, $"The {format.Name()} image cannot be decoded: " +
            $"its headers declare {declared.Width}×{declared.Height} pixels, the codec reads {width}×{height}.");
    }

    static SKBitmap DecodeUpright(ReadOnlySpan<byte> bytes, PreprocessOptions options, ImageLimits limits)
    {
        using var codec = OpenCodec(bytes, limits, out var format);
        var origin = codec.EncodedOrigin;
        bool swaps = origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom
            or SKEncodedOrigin.LeftBottom;
        // Target size in the codec's (unrotated) frame.
        int needW = swaps ? options.Height : options.Width, needH = swaps ? options.Width : options.Height;
        if (options.Resize == ResizeMode.ShorterSideCenterCrop && options.CropFraction < 1)
            (needW, needH) = ((int)Math.Ceiling(needW / options.CropFraction),
                (int)Math.Ceiling(needH / options.CropFraction));
        float scale = options.Resize == ResizeMode.Stretch
            ? Math.Max((float)needW / codec.Info.Width, (float)needH / codec.Info.Height)
            : Math.Max((float)Math.Min(needW, needH) / Math.Min(codec.Info.Width, codec.Info.Height),
                       Math.Max((float)needW / codec.Info.Width, (float)needH / codec.Info.Height));
        // Scaled decoding (JPEG's DCT scaling): the smallest size the codec offers that still covers the target.
        var size = scale < 1 ? codec.GetScaledDimensions(scale) : codec.Info.Size;
        if (size.Width < Math.Ceiling(codec.Info.Width * scale)
            || size.Height < Math.Ceiling(codec.Info.Height * scale)) size = codec.Info.Size;
        var info = new SKImageInfo(size.Width, size.Height, SKColorType.Rgba8888, SKAlphaType.Premul);
        var decoded = new SKBitmap(info);
        var result = codec.GetPixels(info, decoded.GetPixels());
        if (result is not (SKCodecResult.Success))
        {
            decoded.Dispose();
            throw new ImageRejectedException(ImageRejection.Undecodable, result == SKCodecResult.IncompleteInput
                ? $"The {format.Name()} image is truncated: its data ends before the last pixel."
                : $"The {format.Name()} image cannot be decoded ({result}).");
        }
        // Box-filter halving keeps the final cubic resize from aliasing on big downscales.
        while (decoded.Width >= 2 * needW * 2 && decoded.Height >= 2 * needH * 2)
        {
            var half = Draw(decoded, decoded.Width / 2, decoded.Height / 2, SKMatrix.CreateScale(0.5f, 0.5f), Halving,
                SKColors.Transparent);
            decoded.Dispose();
            decoded = half;
        }
        if (origin == SKEncodedOrigin.TopLeft) return decoded;
        int w = decoded.Width, h = decoded.Height;
        var m = OrientationMatrix(origin, w, h);
        var upright = Draw(decoded, swaps ? h : w, swaps ? w : h, m, Halving, SKColors.Transparent);
        decoded.Dispose();
        return upright;
    }

    /// <summary>Maps the stored frame onto the upright frame (EXIF orientations 2–8).</summary>
    static SKMatrix OrientationMatrix(SKEncodedOrigin origin, float w, float h) => origin switch
    {
        SKEncodedOrigin.TopRight => new SKMatrix(-1, 0, w, 0, 1, 0, 0, 0, 1),
        SKEncodedOrigin.BottomRight => new SKMatrix(-1, 0, w, 0, -1, h, 0, 0, 1),
        SKEncodedOrigin.BottomLeft => new SKMatrix(1, 0, 0, 0, -1, h, 0, 0, 1),
        SKEncodedOrigin.LeftTop => new SKMatrix(0, 1, 0, 1, 0, 0, 0, 0, 1),
        SKEncodedOrigin.RightTop => new SKMatrix(0, -1, h, 1, 0, 0, 0, 0, 1),
        SKEncodedOrigin.RightBottom => new SKMatrix(0, -1, h, -1, 0, w, 0, 0, 1),
        SKEncodedOrigin.LeftBottom => new SKMatrix(0, 1, 0, -1, 0, w, 0, 0, 1),
        _ => SKMatrix.Identity,
    };

    static SKBitmap ResizeOnWhite(SKBitmap upright, PreprocessOptions options)
    {
        float sx, sy, tx = 0, ty = 0;
        if (options.Resize == ResizeMode.Stretch)
        {
            sx = (float)options.Width / upright.Width;
            sy = (float)options.Height / upright.Height;
        }
        else
        {
            sx = sy = Math.Max((float)options.Width / upright.Width, (float)options.Height / upright.Height)
                / options.CropFraction;
            tx = (options.Width - upright.Width * sx) / 2;
            ty = (options.Height - upright.Height * sy) / 2;
        }
        // Transparent pixels are composited over white: products on transparent backgrounds look as on a page.
        // Mitchell is not interpolating, so an image already at the target size is copied, not resampled.
        bool identity = sx == 1 && sy == 1 && tx == MathF.Round(tx) && ty == MathF.Round(ty);
        return Draw(upright, options.Width, options.Height, new SKMatrix(sx, 0, tx, 0, sy, ty, 0, 0, 1), identity
            ? SKSamplingOptions.Default : Final, SKColors.White);
    }

    static SKBitmap Draw(SKBitmap source, int width, int height, SKMatrix matrix, SKSamplingOptions sampling,
        SKColor background)
    {
        var target = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul));
        using var canvas = new SKCanvas(target);
        canvas.Clear(background);
        canvas.SetMatrix(matrix);
        using var image = SKImage.FromBitmap(source);
        using var paint = new SKPaint { BlendMode = SKBlendMode.SrcOver };
        canvas.DrawImage(image, 0, 0, sampling, paint);
        canvas.Flush();
        return target;
    }

    /// <summary>Normalises an RGBA bitmap of the target size into planar channels (what <see cref="Preprocess"/> ends
    /// with), for callers that prepare their own bitmaps (e.g. augmented benchmark photos).</summary>
    public static void WriteTensor(SKBitmap rgba, PreprocessOptions options, Span<float> destination)
    {
        if (rgba.Width != options.Width || rgba.Height != options.Height || rgba.ColorType != SKColorType.Rgba8888)
            throw new ArgumentException($"Expected a {options.Width}×{options.Height} RGBA bitmap.", nameof(rgba));
        var pixels = rgba.GetPixelSpan();
        int plane = options.Width * options.Height;
        int c0 = options.Order == ChannelOrder.Rgb ? 0 : 2, c2 = 2 - c0;
        float s = 1f / options.PixelScale;
        var mean = options.Mean;
        var std = options.Std;
        for (int i = 0; i < plane; i++)
        {
            int p = i * 4;
            destination[i] = (pixels[p + c0] * s - mean[0]) / std[0];
            destination[plane + i] = (pixels[p + 1] * s - mean[1]) / std[1];
            destination[2 * plane + i] = (pixels[p + c2] * s - mean[2]) / std[2];
        }
    }
}
