using System.Text.Json.Serialization;

namespace Catalogs.Grains;

/// <summary>What a search starts from: <see cref="Image"/>, <see cref="ProductId"/>, the query's vector, or
/// several examples (<see cref="Positive"/>, with <see cref="Negative"/> ones to move away from), combined by
/// <see cref="Strategy"/>; <see cref="Direction"/> moves the query along the difference of two products' centroids,
/// and <see cref="Region"/> searches by one part of the image. <see cref="ColorWeight"/> (0–1) re-ranks by colour:
/// (1 − w) × the visual distance + w × the colour distance to the query image or product. <see cref="Expand"/>:
/// query expansion (αQE: the query plus its 2 best matches weighted by cos³, searched again).</summary>
[GenerateSerializer, Immutable, Alias("Catalogs.SearchRequest")]
public sealed record SearchRequest(
    [property: Id(0)] SearchQuery Query,
    [property: Id(1)] byte[]? Image = null,
    [property: Id(2)] string? ProductId = null,
    [property: Id(3)] QueryExample[]? Positive = null,
    [property: Id(4)] QueryExample[]? Negative = null,
    [property: Id(5)] ExampleStrategy Strategy = ExampleStrategy.AverageVector,
    [property: Id(6)] QueryDirection? Direction = null,
    [property: Id(7)] ImageRegion? Region = null,
    [property: Id(8)] float? ColorWeight = null,
    [property: Id(9)] bool Expand = false);

/// <summary>How several examples make one search: <c>averageVector</c> searches near the weighted centroid of the
/// positives minus the weighted negatives; <c>bestScore</c> searches near each positive and ranks every candidate
/// by its closest positive, those closer to a negative than to any positive last.</summary>
[JsonConverter(typeof(SpecEnumConverter<ExampleStrategy>))]
public enum ExampleStrategy { AverageVector, BestScore }

/// <summary>One example of a query with several: a stored product, an image, or a vector (exactly one), and its
/// weight.</summary>
[GenerateSerializer, Immutable, Alias("Catalogs.QueryExample")]
public sealed record QueryExample(
    [property: Id(0)] string? ProductId = null,
    [property: Id(1)] byte[]? Image = null,
    [property: Id(2)] float[]? Vector = null,
    [property: Id(3)] float Weight = 1f);

/// <summary>Moves the query by <c>Weight</c> × (centroid of <c>To</c> − centroid of <c>From</c>), products given by
/// id: chairs → couches added to a love seat finds couches that look like it.</summary>
[GenerateSerializer, Immutable, Alias("Catalogs.QueryDirection")]
public sealed record QueryDirection(
    [property: Id(0)] string[] From,
    [property: Id(1)] string[] To,
    [property: Id(2)] float Weight = 1f);

/// <summary>A box of the query image in fractions of its upright width and height (0–1).</summary>
[GenerateSerializer, Immutable, Alias("Catalogs.ImageRegion")]
public sealed record ImageRegion(
    [property: Id(0)] float X,
    [property: Id(1)] float Y,
    [property: Id(2)] float Width,
    [property: Id(3)] float Height);
