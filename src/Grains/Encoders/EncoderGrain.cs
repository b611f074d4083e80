using Orleans.Concurrency;

namespace Catalogs.Grains.Encoders;

/// <summary>Local, scalable entry to the silo's <see cref="EncoderService"/>: decoding and inference run on the
/// thread pool, so the grain only awaits and many requests interleave into shared batches.</summary>
[StatelessWorker, Reentrant]
public sealed class EncoderGrain(EncoderService encoders) : Grain, IEncoderGrain
{
    public Task<EncoderDescription> Describe(EncoderDraft draft, CancellationToken cancellationToken) =>
        encoders.DescribeAsync(draft, HeadBytes, cancellationToken);

    public Task<float[][]> Encode(EncoderSpec encoder, byte[][] images, CancellationToken cancellationToken) =>
        encoders.EncodeAsync(encoder, images, HeadBytes, cancellationToken);

    public Task<ProductEncoding[]> EncodeProducts(EncoderSpec encoder, byte[][] images,
        CancellationToken cancellationToken) =>
        encoders.EncodeProductsAsync(encoder, images, HeadBytes, cancellationToken);

    public Task<ProductColor[]> DescribeColors(byte[][] images, CancellationToken cancellationToken) =>
        encoders.DescribeColorsAsync(images, cancellationToken);

    public Task<float[]> EncodeRegion(EncoderSpec encoder, byte[] image, ImageRegion region,
        CancellationToken cancellationToken) =>
        encoders.EncodeRegionAsync(encoder, image, region, HeadBytes, cancellationToken);

    Task<byte[]?> HeadBytes(string hash) => GrainFactory.GetGrain<IHeadGrain>(hash).Get();
}
