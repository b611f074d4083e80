namespace Catalogs.Imaging;

public enum ImageRejection
{
    /// <summary>Not one of JPEG, PNG, WebP, GIF, BMP.</summary>
    UnsupportedFormat,
    /// <summary>A supported format whose bytes cannot be decoded (corrupt or truncated).</summary>
    Undecodable,
    /// <summary>More pixels than the limit, judged from the header before decoding.</summary>
    TooManyPixels,
}

/// <summary>Thrown for images that the pipeline refuses; <see cref="Reason"/> maps onto an HTTP status.</summary>
public sealed class ImageRejectedException(ImageRejection reason, string message) : Exception(message)
{
    public ImageRejection Reason { get; } = reason;
}
