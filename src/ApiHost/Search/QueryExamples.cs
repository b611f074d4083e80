using Catalogs.ApiHost.ImageFetching;
using Catalogs.ApiHost.Infrastructure;
using Catalogs.Grains;

namespace Catalogs.ApiHost.Search;

/// <summary>The shape rules of searches with several examples, a direction or an image region, checked before any
/// image is fetched; then the examples' images fetched.</summary>
public static class QueryExamples
{
    public const int MaxExamples = 16;
    public const float MaxWeight = 10f, MaxDirectionWeight = 4f, MinRegionSide = 0.01f;
    public const float NegativeWeight = 0.5f;

    /// <summary>Checks the examples, direction and region of <paramref name="dto"/>; <paramref
    /// name="imageQuery"/>: the search starts from an image (uploaded or by URL), which a region needs.</summary>
    public static void Validate(SearchDto dto, bool imageQuery, RequestValidator validator)
    {
        if (dto.Positive is { Length: 0 })
            throw CatalogRequestException.Invalid("positive must hold at least one example (a productId, imageUrl " +
                "or featureVector).");
        Examples(dto.Positive, "positive", validator);
        Examples(dto.Negative, "negative", validator);
        if (dto.Strategy is { } strategy && dto.Positive is null && dto.Negative is null)
            throw CatalogRequestException.Invalid(
                $"strategy {SpecEnumConverter<ExampleStrategy>.Name(strategy)} applies to positive and negative " +
                "examples.");
        if (dto.Direction is { } d)
        {
            foreach (var (ids, name) in new[] { (d.From, "from"), (d.To, "to") })
            {
                if (ids is not { Length: > 0 })
                    throw CatalogRequestException.Invalid($"direction.{name} must name at least one product.");
                if (ids.Length > MaxExamples)
                    throw CatalogRequestException.Malformed($"direction.{name} names {ids.Length} products; at " +
                        $"most {MaxExamples}.");
                foreach (var (id, i) in ids.Select((id, i) => (id, i)))
                    validator.ProductIdIsValid(id, $"direction.{name}[{i}]: ");
            }
            if (d.Weight is { } w && !(w > 0 && w <= MaxDirectionWeight))
                throw CatalogRequestException.Invalid($"direction.weight must lie in (0, {MaxDirectionWeight}]; " +
                    $"got {w}.");
        }
        if (dto.ColorWeight is { } color && !(color >= 0 && color <= 1))
            throw CatalogRequestException.Invalid($"colorWeight must lie in [0, 1]; got {color}.");
        if (dto.Region is { } r)
        {
            if (!imageQuery)
                throw CatalogRequestException.Invalid("region applies to a search by image (an uploaded image or " +
                    "imageUrl).");
            if (r.X is not { } x || r.Y is not { } y || r.Width is not { } width || r.Height is not { } height)
                throw CatalogRequestException.Malformed("region needs x, y, width and height.");
            if (!(x >= 0 && y >= 0 && width >= MinRegionSide && height >= MinRegionSide && x + width <= 1
                && y + height <= 1))
                throw CatalogRequestException.Invalid($"region {{x: {x}, y: {y}, width: {width}, height: " +
                    $"{height}}} lies outside the image: x, y, width and height are fractions of the image's width " +
                    $"and height, with x + width ≤ 1, y + height ≤ 1 and sides of at least {MinRegionSide}.");
        }
    }

    static void Examples(ExampleDto[]? examples, string list, RequestValidator validator)
    {
        if (examples is null) return;
        if (examples.Length > MaxExamples)
            throw CatalogRequestException.Malformed($"{list} holds {examples.Length} examples; at most " +
                $"{MaxExamples}.");
        foreach (var (e, i) in examples.Select((e, i) => (e, i)))
        {
            var at = $"{list}[{i}]";
            int sources = (e.ProductId is null ? 0 : 1) + (e.ImageUrl is null ? 0 : 1) + (e.FeatureVector is null
                ? 0 : 1);
            if (sources != 1)
                throw CatalogRequestException.Malformed($"{at}: set exactly one of productId, imageUrl and " +
                    "featureVector.");
            if (e.ProductId is not null) validator.ProductIdIsValid(e.ProductId, at + ": ");
            if (e.FeatureVector is not null) validator.VectorIsValid(e.FeatureVector, at + ".featureVector");
            if (e.Weight is { } w && !(w > 0 && w <= MaxWeight))
                throw CatalogRequestException.Invalid($"{at}.weight must lie in (0, {MaxWeight}]; got {w}.");
        }
    }

    public const int MaxTextLength = 1024;

    /// <summary>The query's text, checked (with its fusion weight).</summary>
    public static string? Text(SearchDto dto)
    {
        if (dto.Rrf is { } rrf)
        {
            if (dto.Text is null) throw CatalogRequestException.Invalid("rrf fuses a text ranking: it needs text.");
            if (rrf.Alpha is not { } alpha || !(alpha >= 0 && alpha <= 1))
                throw CatalogRequestException.Invalid($"rrf.alpha must lie in [0, 1] (1: the vector ranking alone, " +
                    $"0: the text ranking alone); got {rrf.Alpha?.ToString() ?? "nothing"}.");
        }
        if (dto.Text is not { } text) return null;
        if (text.Length > MaxTextLength)
            throw CatalogRequestException.Malformed($"text holds {text.Length} characters; at most {MaxTextLength}.");
        if (string.IsNullOrWhiteSpace(text)) throw CatalogRequestException.Invalid("text is empty.");
        return text;
    }

    /// <summary>The examples as the catalog takes them, their images fetched.</summary>
    public static async Task<QueryExample[]?> ResolveAsync(ExampleDto[]? examples, float defaultWeight,
        ImageFetcher fetcher, CancellationToken cancellationToken) => examples is null ? null
        : await Task.WhenAll(examples.Select(async e => new QueryExample(e.ProductId,
            e.ImageUrl is null ? null : await fetcher.FetchAsync(e.ImageUrl, cancellationToken), e.FeatureVector,
            e.Weight ?? defaultWeight)));
}
