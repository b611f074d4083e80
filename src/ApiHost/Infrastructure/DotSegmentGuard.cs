using Catalogs.Grains;
using Microsoft.AspNetCore.Http.Features;

namespace Catalogs.ApiHost.Infrastructure;

/// <summary>
/// Refuses request targets with '.' or '..' segments, plain or percent-encoded, before routing sees the path. The
/// server resolves them (<c>/v1/catalogs/x/products/%2e%2e</c> arrives as <c>/v1/catalogs/x</c>), so without this a
/// product URL could reach a catalog route: a DELETE of product '..' deleted the whole catalog.
/// </summary>
public static class DotSegmentGuard
{
    public static IApplicationBuilder UseDotSegmentGuard(this IApplicationBuilder app) => app.Use(async (context,
        next) =>
    {
        var target = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? context.Request.Path.Value ?? "";
        int end = target.IndexOfAny(['?', '#']);
        var path = end >= 0 ? target[..end] : target;
        foreach (var segment in path.Split('/'))
        {
            if (segment.Length is 0 or > 6) continue;
            var decoded = segment.Replace("%2e", ".", StringComparison.OrdinalIgnoreCase);
            if (decoded is "." or "..")
                throw CatalogRequestException.Malformed($"The request path has a '{decoded}' segment ('{segment}'), " +
                    $"which " +
                    $"is refused: paths are never normalised here. {RequestValidator.ProductIdRules}");
        }
        await next(context);
    });
}
