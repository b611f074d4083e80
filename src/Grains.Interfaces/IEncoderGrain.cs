namespace Catalogs.Grains;

/// <summary>Encodes images with a given encoder, off the grain scheduler, batching concurrent requests.
/// A stateless worker: activations are local to the caller's silo and scale with load.</summary>
[Alias("Catalogs.IEncoderGrain")]
public interface IEncoderGrain : IGrainWithIntegerKey
{
    /// <summary>Resolves an encoder's defaults against its model and reports its embedding length (loads the
    /// model).</summary>
    [Alias("Describe")]
    Task<EncoderDescription> Describe(EncoderDraft draft,
        CancellationToken cancellationToken = default);
    [Alias("Encode")]
    Task<float[][]> Encode(EncoderSpec encoder, byte[][] images,
        CancellationToken cancellationToken = default);
    /// <summary>Encodes product images: their embeddings and their colours.</summary>
    [Alias("EncodeProducts")]
    Task<ProductEncoding[]> EncodeProducts(EncoderSpec encoder, byte[][] images,
        CancellationToken cancellationToken = default);
    /// <summary>The colours of images (no model involved).</summary>
    [Alias("DescribeColors")]
    Task<ProductColor[]> DescribeColors(byte[][] images, CancellationToken cancellationToken = default);
    /// <summary>Encodes one box of an image (in fractions of its upright size).</summary>
    [Alias("EncodeRegion")]
    Task<float[]> EncodeRegion(EncoderSpec encoder, byte[] image, ImageRegion region,
        CancellationToken cancellationToken = default);
}
