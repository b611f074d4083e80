using Catalogs.ApiHost.Access;
using Catalogs.ApiHost.ImageFetching;
using Catalogs.ApiHost.Infrastructure;
using Catalogs.Grains;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Catalogs.ApiHost.Search;

/// <summary>Similar products for a photo, an image URL, a product or a vector, filtered and diversified.</summary>
public static class SearchEndpoints
{
    public static RouteGroupBuilder MapSearchEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/catalogs/{catalog}").WithTags("Search");
        group.MapPost("/search", SearchAsync)
            .WithSummary("Find the most similar products")
            .WithDescription("multipart/form-data with an 'image' file and an optional 'query' JSON field, or a JSON " +
                "body with exactly one of imageUrl, productId " +
                "(similar products, excluding itself) and featureVector. Options: neighborCount (1–1000, default " +
                    "10), restricts, numericRestricts with op " +
                "(LESS, LESS_EQUAL, EQUAL, GREATER_EQUAL, GREATER, NOT_EQUAL), perCrowdingAttributeNeighborCount, " +
                    "returnFeatureVector, ef (HNSW candidate list size: recall against speed). Several examples: " +
                    "positive and negative lists of {productId | imageUrl | featureVector, weight} with strategy " +
                    "averageVector or bestScore; direction {from: [ids], to: [ids], weight}; region {x, y, width, " +
                    "height} (fractions of the image) searches by one box of the image. Distances: lower is " +
                    "closer.")
            .Accepts<SearchDto>("application/json", "multipart/form-data")
            .ProducesProblem(400).ProducesProblem(404).ProducesProblem(413).ProducesProblem(415).ProducesProblem(422)
            .RequireScope(ApiKeyScopes.Search);
        group.MapGet("/facets", FacetsAsync)
            .WithSummary("What the catalog's products can be filtered by: restrict namespaces with the products per " +
                "token (the most frequent 'tokens' of each, default 20, at most 1000) and numeric namespaces with " +
                "their ranges")
            .ProducesProblem(400).ProducesProblem(404).RequireScope(ApiKeyScopes.Search);
        return group;
    }

    static async Task<Ok<CatalogFacets>> FacetsAsync(string catalog, int? tokens, CatalogGateway gateway,
        CancellationToken ct)
    {
        var grain = gateway.Catalog(catalog);
        if (tokens is < 1 or > CatalogFacets.MaxTokens)
            throw CatalogRequestException.Malformed(
                $"tokens must lie within 1–{CatalogFacets.MaxTokens}; got {tokens}.");
        return TypedResults.Ok(await gateway.Idempotent(() => grain.GetFacets(tokens ?? 20, ct), ct));
    }

    static async Task<Ok<SearchResponse>> SearchAsync(string catalog, HttpRequest request, CatalogGateway gateway,
        ImageFetcher fetcher, RequestValidator validator, CancellationToken ct)
    {
        var grain = gateway.Catalog(catalog);
        SearchDto dto;
        byte[]? image = null;
        if (request.HasFormContentType)
        {
            (image, var json) = await RequestReader.ReadImageFormAsync<SearchDto>(request, "query", ct);
            dto = json ?? Empty;
            if (dto.ImageUrl is not null || dto.ProductId is not null || dto.FeatureVector is not null
                || dto.Positive is not null)
                throw CatalogRequestException.Malformed("With an uploaded image, the query must not also set " +
                    "imageUrl, productId, featureVector or positive.");
        }
        else if (request.HasJsonContentType())
        {
            dto = await RequestReader.ReadJsonAsync<SearchDto>(request, "The search request");
            int sources = (dto.ImageUrl is null ? 0 : 1) + (dto.ProductId is null ? 0 : 1) + (dto.FeatureVector is null
                ? 0 : 1) + (dto.Positive is null ? 0 : 1);
            if (sources > 1 || (sources == 0 && dto.Text is null))
                throw CatalogRequestException.Malformed("Set exactly one of imageUrl, productId, featureVector and " +
                    "positive, or text alone (text also goes with any one of them).");
        }
        else throw CatalogRequestException.UnsupportedMedia("Send multipart/form-data (image + query) or " +
            "application/json.");

        // Validate the options before any expensive work.
        int k = RequestValidator.NeighborCount(dto.NeighborCount);
        var restricts = validator.QueryRestricts(dto.Restricts, dto.NumericRestricts);
        var numeric = (dto.NumericRestricts ?? [])
            .Select((n, i) => validator.NumericValue(n, $"numericRestricts[{i}]", query: true)).ToArray();
        var crowding = RequestValidator.CrowdingLimit(dto.PerCrowdingAttributeNeighborCount);
        var ef = RequestValidator.Ef(dto.Ef, k);
        var approximate = RequestValidator.ApproximateNeighborCount(dto.ApproximateNeighborCount, k);
        var leaves = RequestValidator.LeafFraction(dto.FractionLeafNodesToSearchOverride);
        QueryExamples.Validate(dto, image is not null || dto.ImageUrl is not null, validator);
        var text = QueryExamples.Text(dto);

        if (dto.ImageUrl is not null) image = await fetcher.FetchAsync(dto.ImageUrl, ct);
        if (dto.ProductId is not null) validator.ProductIdIsValid(dto.ProductId);
        if (dto.FeatureVector is not null) validator.VectorIsValid(dto.FeatureVector, "featureVector");
        // One call: the catalog encodes the image or looks the product up, then searches.
        bool withVector = dto.ReturnFeatureVector ?? false;
        var query = new SearchQuery(dto.FeatureVector ?? [], k, restricts, numeric, crowding, null, ef, dto.Routing,
            approximate, leaves, ReturnVectors: withVector, Consistency: dto.Consistency ?? ReadConsistency.Eventual,
            Text: text, RrfAlpha: dto.Rrf?.Alpha);
        var positive = await QueryExamples.ResolveAsync(dto.Positive, 1f, fetcher, ct);
        var negative = await QueryExamples.ResolveAsync(dto.Negative, QueryExamples.NegativeWeight, fetcher, ct);
        var direction = dto.Direction is { } d ? new QueryDirection(d.From!, d.To!, d.Weight ?? 1f) : null;
        var region = dto.Region is { } r ? new ImageRegion(r.X!.Value, r.Y!.Value, r.Width!.Value, r.Height!.Value)
            : null;
        var search = new SearchRequest(query, image, dto.ProductId, positive, negative,
            dto.Strategy ?? ExampleStrategy.AverageVector, direction, region, dto.ColorWeight, dto.Expand ?? false);
        var result = await gateway.Idempotent(() => grain.Find(search, ct), ct);
        return TypedResults.Ok(new SearchResponse(result.Hits.Select(h => new NeighborView(h.Id, h.Distance,
            DatapointView.From(h.Datapoint, withVector))).ToArray(),
            result.Source, result.Degraded, result.Warning, result.Partial,
            result.Partial ? result.MissingShards : null));
    }

    static readonly SearchDto Empty = new(null, null, null, null, null, null, null, null);
}
