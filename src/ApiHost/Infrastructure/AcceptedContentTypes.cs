using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Routing.Template;

namespace Catalogs.ApiHost.Infrastructure;

/// <summary>The request body types the endpoints at a request's path and method document, for the 415 that routing
/// answers on its own (no endpoint is selected then, so they are looked up).</summary>
public static class AcceptedContentTypes
{
    public static string[] For(HttpContext http)
    {
        var types = new List<string>(); // in the order the endpoints document them
        foreach (var endpoint in http.RequestServices.GetRequiredService<EndpointDataSource>().Endpoints
            .OfType<RouteEndpoint>())
        {
            if (endpoint.Metadata.GetMetadata<IHttpMethodMetadata>() is { } methods
                && !methods.HttpMethods.Contains(http.Request.Method, StringComparer.OrdinalIgnoreCase)) continue;
            if (endpoint.Metadata.GetMetadata<IAcceptsMetadata>() is not { } accepts) continue;
            var matcher = new TemplateMatcher(new RouteTemplate(endpoint.RoutePattern), []);
            if (matcher.TryMatch(http.Request.Path, []))
                types.AddRange(accepts.ContentTypes.Where(t => !types.Contains(t)));
        }
        return types.ToArray();
    }
}
