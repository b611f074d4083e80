namespace Catalogs.Grains;

/// <summary>A product's image as served: its bytes, media type and entity tag (from the content hash).</summary>
[GenerateSerializer, Immutable, Alias("Catalogs.ProductImage")]
public sealed record ProductImage(
    [property: Id(0)] byte[] Bytes,
    [property: Id(1)] string MediaType,
    [property: Id(2)] string ETag)
{
    /// <summary>The thumbnail sizes served (longer side, pixels): a closed set, so caches stay bounded.</summary>
    public static readonly int[] ThumbnailSizes = [64, 128, 256, 512];
}
