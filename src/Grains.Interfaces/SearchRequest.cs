namespace Catalogs.Grains;

/// <summary>What a search starts from: <see cref="Image"/>, <see cref="ProductId"/>, or else the query's
/// vector.</summary>
[GenerateSerializer, Immutable, Alias("Catalogs.SearchRequest")]
public sealed record SearchRequest(
    [property: Id(0)] SearchQuery Query,
    [property: Id(1)] byte[]? Image = null,
    [property: Id(2)] string? ProductId = null);
