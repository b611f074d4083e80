namespace Catalogs.Grains;

/// <summary>What became of one product of an import batch.</summary>
public enum ImportRowStatus
{
    /// <summary>Stored: new, or changed (image encoded again only when the image itself changed).</summary>
    Written,

    /// <summary>Already stored with the same image (by SHA-256) and the same datapoint: nothing written.</summary>
    Unchanged,

    /// <summary>Refused; <see cref="ImportOutcome.Error"/> says why. The batch's other products are
    /// unaffected.</summary>
    Failed,
}

[GenerateSerializer, Immutable, Alias("Catalogs.ImportOutcome")]
public sealed record ImportOutcome(
    [property: Id(0)] ImportRowStatus Status,
    [property: Id(1)] string? Error = null)
{
    public static readonly ImportOutcome Written = new(ImportRowStatus.Written);
    public static readonly ImportOutcome Unchanged = new(ImportRowStatus.Unchanged);
}
