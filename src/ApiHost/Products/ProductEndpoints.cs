using System.ComponentModel;
using Catalogs.ApiHost.Access;
using Catalogs.ApiHost.ImageFetching;
using Catalogs.ApiHost.Infrastructure;
using Catalogs.Grains;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Net.Http.Headers;

namespace Catalogs.ApiHost.Products;

/// <summary>Upsert, read and delete products, one at a time or in batches.</summary>
public static class ProductEndpoints
{
    public const int MaxBatch = 1000;

    public static RouteGroupBuilder MapProductEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/catalogs/{catalog}").WithTags("Products");
        group.MapPut("/products/{id}", PutAsync)
            .WithSummary("Upsert a product")
            .WithDescription("multipart/form-data with an 'image' file and an optional 'datapoint' JSON field " +
                "(restricts, numericRestricts, crowdingTag, attributes), " +
                "or a JSON datapoint carrying featureVector or imageUrl. Acknowledged once durable and searchable.")
            .Accepts<DatapointDto>("application/json", "multipart/form-data")
            .ProducesProblem(400).ProducesProblem(403).ProducesProblem(404).ProducesProblem(413).ProducesProblem(415)
            .ProducesProblem(422).RequireScope(ApiKeyScopes.Write);
        group.MapGet("/products/{id}", GetAsync).WithSummary("A stored product").ProducesProblem(404)
            .RequireScope(ApiKeyScopes.Search);
        group.MapDelete("/products/{id}", DeleteAsync).WithSummary("Delete a product").ProducesProblem(404)
            .RequireScope(ApiKeyScopes.Write);
        group.MapGet("/products/{id}/image", ImageAsync)
            .WithSummary("A product's original image, or with size (64, 128, 256 or 512) a JPEG thumbnail of that " +
                "longer side")
            .WithDescription("Served with an ETag from the image's SHA-256: send If-None-Match to get 304 when " +
                "unchanged.")
            .Produces(200, contentType: "image/jpeg").ProducesProblem(400).ProducesProblem(404)
            .RequireScope(ApiKeyScopes.Search);
        group.MapPost("/products:batch", BatchAsync)
            .WithSummary("Upsert many products")
            .WithDescription($"Up to {MaxBatch} JSON datapoints, each with id and featureVector or imageUrl. All are " +
                $"validated (and images encoded) before any is stored.")
            .Accepts<BatchDto>("application/json")
            .ProducesProblem(400).ProducesProblem(403).ProducesProblem(404).ProducesProblem(415).ProducesProblem(422)
            .RequireScope(ApiKeyScopes.Write);
        return group;
    }

    static async Task<Ok<DatapointView>> PutAsync(string catalog,
        [Description(RequestValidator.ProductIdRules)] string id,
        HttpRequest request, CatalogGateway gateway, ImageFetcher fetcher, RequestValidator validator,
            StorageQuota quota, CancellationToken ct)
    {
        var grain = gateway.Catalog(catalog);
        validator.ProductIdIsValid(id);
        await quota.EnsureRoomAsync(request.HttpContext, 1, ct);
        ProductWrite write;
        if (request.HasFormContentType)
        {
            var (image, json) = await RequestReader.ReadImageFormAsync<DatapointDto>(request, "datapoint", ct);
            var dto = json ?? Empty;
            if (RequestValidator.VectorOf(dto) is not null || dto.ImageUrl is not null)
                throw CatalogRequestException.Malformed("Send the image as the 'image' part only: the datapoint must " +
                    "not " +
                    "carry featureVector or imageUrl as well.");
            write = new ProductWrite(ToDatapoint(id, dto, validator, null), image);
        }
        else if (request.HasJsonContentType())
        {
            var dto = await RequestReader.ReadJsonAsync<DatapointDto>(request, "The datapoint");
            write = await WriteOf(id, dto, fetcher, validator, "", ct);
        }
        else throw CatalogRequestException.UnsupportedMedia("Send multipart/form-data (image + datapoint) or " +
            "application/json (a datapoint with featureVector or imageUrl).");
        // One call: the catalog encodes the image, if any, and writes; the shard keeps the image under its SHA-256.
        await gateway.Idempotent(() => WriteAsync(grain, [write], ct), ct);
        var stored = write.Image is { } bytes
            ? write.Datapoint with
            {
                ImageSha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)),
            }
            : write.Datapoint;
        return TypedResults.Ok(DatapointView.From(stored, withVector: false));
    }

    static Datapoint ToDatapoint(string id, DatapointDto dto, RequestValidator validator, float[]? vector,
        string where = "")
    {
        if (RequestValidator.IdOf(dto, where) is { } bodyId && bodyId != id)
            throw CatalogRequestException.Malformed(
                $"{where}The body's id '{RequestValidator.Shorten(bodyId)}' differs from the URL's '{id}'.");
        return validator.ToDatapoint(id, dto, vector, where);
    }

    static async Task<Ok<DatapointView>> GetAsync(string catalog,
        [Description(RequestValidator.ProductIdRules)] string id,
        CatalogGateway gateway, RequestValidator validator, CancellationToken ct)
    {
        var grain = gateway.Catalog(catalog);
        validator.ProductIdIsValid(id);
        return TypedResults.Ok(DatapointView.From(await gateway.Idempotent(() => grain.Get(id, ct), ct)
            ?? throw CatalogRequestException.NotFound($"Product '{id}' does not exist in catalog '{catalog}'."),
                withVector: true));
    }

    static async Task<FileContentHttpResult> ImageAsync(string catalog,
        [Description(RequestValidator.ProductIdRules)] string id,
        string? size, HttpResponse response, CatalogGateway gateway, RequestValidator validator, CancellationToken ct)
    {
        var grain = gateway.Catalog(catalog);
        validator.ProductIdIsValid(id);
        int? side = null;
        if (size is not null)
            side = int.TryParse(size, System.Globalization.NumberStyles.None, null, out var n) ? n
                : throw CatalogRequestException.Malformed($"size '{RequestValidator.Shorten(size)}' is not a whole " +
                    $"number of pixels.");
        if (side is { } pixels && !ProductImage.ThumbnailSizes.Contains(pixels))
            throw CatalogRequestException.Malformed(
                $"size must be one of {string.Join(", ", ProductImage.ThumbnailSizes)}; got {pixels}.");
        var image = await gateway.Idempotent(() => grain.GetImage(id, side, ct), ct)
            ?? throw CatalogRequestException.NotFound($"Product '{id}' does not exist in catalog '{catalog}' or has " +
                $"no image.");
        // The URL names a product, whose image may change: caches revalidate, and the ETag makes that cheap.
        response.Headers.CacheControl = "public, max-age=60, must-revalidate";
        return TypedResults.Bytes(image.Bytes, image.MediaType,
            entityTag: new EntityTagHeaderValue($"\"{image.ETag}\""));
    }

    static async Task<NoContent> DeleteAsync(string catalog, [Description(RequestValidator.ProductIdRules)] string id,
        CatalogGateway gateway, RequestValidator validator, CancellationToken ct)
    {
        var grain = gateway.Catalog(catalog);
        validator.ProductIdIsValid(id);
        return await grain.Remove(id, ct) ? TypedResults.NoContent()
            : throw CatalogRequestException.NotFound($"Product '{id}' does not exist in catalog '{catalog}'.");
    }

    static async Task<Ok<BatchResult>> BatchAsync(string catalog, HttpRequest request, CatalogGateway gateway,
        ImageFetcher fetcher, RequestValidator validator, StorageQuota quota, CancellationToken ct)
    {
        var grain = gateway.Catalog(catalog);
        if (!request.HasJsonContentType())
            throw CatalogRequestException.UnsupportedMedia("Send the batch as application/json: {\"datapoints\": " +
                "[...]}.");
        var batch = await RequestReader.ReadJsonAsync<BatchDto>(request, "The batch");
        var items = batch.Datapoints ?? throw CatalogRequestException.Malformed("datapoints is required.");
        if (items.Length is 0 or > MaxBatch)
            throw CatalogRequestException.Malformed($"datapoints must hold 1 to {MaxBatch} items; it holds " +
                $"{items.Length}.");
        await quota.EnsureRoomAsync(request.HttpContext, items.Length, ct);
        var ids = new string[items.Length];
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < items.Length; i++)
        {
            var where = $"datapoints[{i}].";
            ids[i] = RequestValidator.IdOf(items[i], where)
                ?? throw CatalogRequestException.Malformed($"{where}id is required.");
            validator.ProductIdIsValid(ids[i], where);
            if (!seen.Add(ids[i]))
                throw CatalogRequestException.Malformed($"datapoints[{i}]: id '{ids[i]}' appears more than once in " +
                    $"the batch.");
        }
        // Validate everything and fetch every image before storing anything; the catalog encodes all of them
        // before it writes any: all or nothing.
        var writes = await Task.WhenAll(items.Select((dto, i) => WriteOf(ids[i], dto, fetcher, validator,
            $"datapoints[{i}].", ct)));
        await gateway.Idempotent(() => WriteAsync(grain, writes, ct), ct);
        return TypedResults.Ok(new BatchResult(writes.Length));
    }

    public sealed record BatchResult(int Upserted);

    static readonly DatapointDto Empty = new(null, null, null, null, null, null, null);

    /// <summary>A JSON datapoint as a write: its vector, or the image its imageUrl names (fetched here).</summary>
    /// <summary>Vectors alone take the quick call (which fails fast when a silo dies); images need encoding
    /// first.</summary>
    static Task WriteAsync(ICatalogGrain grain, ProductWrite[] writes, CancellationToken ct) =>
        writes.Any(w => w.Image is not null)
            ? grain.Write(writes, ct)
            : grain.Upsert(writes.Select(w => w.Datapoint).ToArray(), ct);

    static async Task<ProductWrite> WriteOf(string id, DatapointDto dto, ImageFetcher fetcher,
        RequestValidator validator,
        string where, CancellationToken ct)
    {
        var vector = RequestValidator.VectorOf(dto, where);
        if ((vector is null) == (dto.ImageUrl is null))
            throw CatalogRequestException.Malformed($"{where}Set exactly one of featureVector and imageUrl.");
        if (vector is not null) return new ProductWrite(ToDatapoint(id, dto, validator, vector, where));
        var point = ToDatapoint(id, dto, validator, null, where);
        return new ProductWrite(point, await fetcher.FetchAsync(dto.ImageUrl!, ct));
    }
}
