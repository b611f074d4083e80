namespace Catalogs.Imaging;

public enum ResizeMode
{
    /// <summary>Scale the shorter side to the target, then crop the centre (keeps aspect ratio).</summary>
    ShorterSideCenterCrop,
    /// <summary>Scale both sides to the target independently (distorts aspect ratio, keeps everything).</summary>
    Stretch,
}

public enum ChannelOrder { Rgb, Bgr }

/// <summary>How an image becomes a model input: size, resize, scaling and per-channel normalisation.</summary>
/// <param name="Width">Target width in pixels.</param>
/// <param name="Height">Target height in pixels.</param>
/// <param name="Mean">Per-channel mean subtracted after scaling by <paramref name="PixelScale"/>, in <paramref
/// name="Order"/>.</param>
/// <param name="Std">Per-channel divisor applied after the mean.</param>
/// <param name="PixelScale">Divisor applied to 0..255 values first (255 maps pixels to 0..1).</param>
/// <param name="CropFraction">With <see cref="ResizeMode.ShorterSideCenterCrop"/>, the share of the scaled shorter
/// side the crop keeps: 1 scales it to the target; 0.875 scales it to target / 0.875 (256 for 224) and crops the
/// centre, as ImageNet evaluation does.</param>
public sealed record PreprocessOptions(
    int Width,
    int Height,
    ResizeMode Resize,
    ChannelOrder Order,
    float[] Mean,
    float[] Std,
    float PixelScale = 255f,
    float CropFraction = 1f)
{
    public static PreprocessOptions ImageNet(int size = 224) => new(size, size, ResizeMode.ShorterSideCenterCrop,
        ChannelOrder.Rgb,
        [0.485f, 0.456f, 0.406f], [0.229f, 0.224f, 0.225f]);

    /// <summary>Floats per image in NCHW layout.</summary>
    public int TensorLength => 3 * Width * Height;
}

/// <summary>Limits applied before any pixel is decoded.</summary>
public sealed record ImageLimits(long MaxPixels = 40_000_000)
{
    public static readonly ImageLimits Default = new();
}
