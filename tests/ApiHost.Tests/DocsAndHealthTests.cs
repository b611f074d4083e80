using System.Net;

namespace Catalogs.ApiHost.Tests;

[Collection(ApiCollection.Name)]
public class DocsAndHealthTests(ApiFactory factory)
{
    readonly HttpClient http = factory.CreateClient();

    [Fact]
    public async Task OpenApi_document_lists_every_endpoint_and_the_reference_page_is_served()
    {
        var doc = await (await http.GetAsync("/openapi/v1.json")).Json(HttpStatusCode.OK);
        var paths = doc["paths"]!.AsObject().Select(p => p.Key).ToArray();
        Assert.Contains("/v1/catalogs/{catalog}", paths);
        Assert.Contains("/v1/catalogs/{catalog}/products/{id}", paths);
        Assert.Contains("/v1/catalogs/{catalog}/products:batch", paths);
        Assert.Contains("/v1/catalogs/{catalog}/search", paths);
        var page = await http.GetAsync("/docs");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("text/html", page.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Health_and_readiness_answer()
    {
        Assert.Equal("Healthy", await http.GetStringAsync("/healthz"));
        Assert.Equal("Healthy", await http.GetStringAsync("/readyz"));
        await http.GetAsync("/v1/nothing-here").Problem(404, "no endpoint");
    }
}
