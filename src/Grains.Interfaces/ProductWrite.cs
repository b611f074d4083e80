namespace Catalogs.Grains;

/// <summary>A product to upsert: its datapoint, and the image its vector is to be computed from (then the
/// datapoint's own vector is ignored).</summary>
[GenerateSerializer, Immutable, Alias("Catalogs.ProductWrite")]
public sealed record ProductWrite(
    [property: Id(0)] Datapoint Datapoint,
    [property: Id(1)] byte[]? Image = null);
