using System.Security.Cryptography;

namespace Catalogs.Grains.Catalogs;

/// <summary>Decides, for one product of an import batch, what the stored product makes unnecessary: re-encoding an
/// image whose bytes are unchanged, or writing at all when nothing changed.</summary>
static class ImportPlanner
{
    /// <summary>The write as it must go to the shard, with the stored vector reused when the image is the same; or
    /// null when the product is stored exactly like this already.</summary>
    public static (ProductWrite? Write, bool NeedsEncoding) Plan(ProductWrite write, Datapoint? stored)
    {
        if (write.Image is not { } image) return (UnchangedOrNull(write.Datapoint, stored) ? null : write, false);
        var hash = Convert.ToHexStringLower(SHA256.HashData(image));
        if (stored is null || stored.ImageSha256 != hash || stored.FeatureVector.Length == 0) return (write, true);
        var point = write.Datapoint with
        {
            FeatureVector = stored.FeatureVector,
            Color = stored.Color,
            ImageSha256 = hash,
            ImageBytes = image.Length,
        };
        // The image is kept already (the shard references it by hash): the write need not carry it again.
        return SamePayload(point, stored) ? (null, false) : (new ProductWrite(point), false);
    }

    static bool UnchangedOrNull(Datapoint point, Datapoint? stored) =>
        stored is not null && SamePayload(point, stored) && point.FeatureVector.AsSpan()
            .SequenceEqual(stored.FeatureVector) && point.ImageSha256 == stored.ImageSha256;

    static bool SamePayload(Datapoint a, Datapoint b) =>
        a.CrowdingTag == b.CrowdingTag && a.AttributesJson == b.AttributesJson
        && a.Restricts.Length == b.Restricts.Length && a.Restricts.Zip(b.Restricts).All(r =>
            r.First.Namespace == r.Second.Namespace && r.First.AllowList.SequenceEqual(r.Second.AllowList)
            && r.First.DenyList.SequenceEqual(r.Second.DenyList))
        && a.NumericRestricts.SequenceEqual(b.NumericRestricts);
}
