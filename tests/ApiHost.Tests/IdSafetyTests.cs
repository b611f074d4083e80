using System.Net;
using System.Text;
using Catalogs.Tests;

namespace Catalogs.ApiHost.Tests;

/// <summary>Product ids are opaque and safe: no id, and no path, can make a product route reach a catalog
/// route.</summary>
public class IdSafetyTests(KestrelApiFactory factory) : IClassFixture<KestrelApiFactory>
{
    const string Catalog = "/v1/catalogs/ids";

    async Task<HttpClient> ReadyAsync()
    {
        _ = factory.Address;
        var http = factory.CreateClient();
        var r = await http.PutJson(Catalog, new { dimensions = 3, shards = 2 });
        Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync());
        await (await http.PutJson(Catalog + "/products/keep",
            new { featureVector = new[] { 1f, 0, 0 } })).Json(HttpStatusCode.OK);
        return http;
    }

    async Task AssertUnchanged(HttpClient http)
    {
        var info = await (await http.GetAsync(Catalog)).Json(HttpStatusCode.OK);
        Assert.Equal(1, info["products"]!.GetValue<long>());
        Assert.Equal(2, info["config"]!["shards"]!.GetValue<int>());
        await (await http.GetAsync(Catalog + "/products/keep")).Json(HttpStatusCode.OK);
    }

    [Theory]
    [InlineData("DELETE", "%2e%2e")]
    [InlineData("DELETE", "..")]
    [InlineData("DELETE", "%2E%2e")]
    [InlineData("GET", "%2e")]
    [InlineData("PUT", "..")]
    [InlineData("PUT", ".%2E")]
    public async Task Dot_segments_never_reach_the_catalog_route(string method, string id)
    {
        var http = await ReadyAsync();
        // A config body too: before the fix, PUT …/products/.. re-configured the catalog with it.
        var body = method == "PUT" ? Encoding.UTF8.GetBytes("{\"dimensions\": 5, \"shards\": 1}") : null;
        var (status, text) = await RawHttp.SendAsync(factory.Address, method, $"{Catalog}/products/{id}",
            body is null ? null : "application/json", body);
        Assert.Equal(400, status);
        Assert.Contains("segment", text);
        await AssertUnchanged(http);
    }

    [Theory]
    [InlineData("%20", "whitespace")]
    [InlineData("%20%09", "whitespace")]
    [InlineData("a%09b", "control character")]
    [InlineData("%FF%FE", "'%'")]
    [InlineData("a%2Fb", "'%'")]
    [InlineData("a%5Cb", "it contains")]
    public async Task Ids_that_decoding_would_change_are_refused_on_every_product_route(string id, string mention)
    {
        var http = await ReadyAsync();
        var vector = Encoding.UTF8.GetBytes("{\"featureVector\": [0, 1, 0]}");
        foreach (var (method, body) in new[] { ("PUT", vector), ("GET", null), ("DELETE", null) })
        {
            var (status, text) = await RawHttp.SendAsync(factory.Address, method, $"{Catalog}/products/{id}",
                body is null ? null : "application/json", body);
            Assert.True(status == 400, $"{method} {id}: {status} {text}");
            Assert.Contains(mention, text);
        }
        await AssertUnchanged(http);
    }

    [Theory]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData(" ")]
    [InlineData("a/b")]
    [InlineData("a%2Fb")]
    [InlineData("a?b")]
    public async Task Batches_searches_and_image_uploads_refuse_the_same_ids(string id)
    {
        var http = await ReadyAsync();
        object[] withFine = [new { id = "fine", featureVector = new[] { 0f, 0, 1 } },
            new { id, featureVector = new[] { 0f, 1, 0 } }];
        await http.PostJson(Catalog + "/products:batch", new { datapoints = withFine }).Problem(400,
            "datapoints[1].Product id");
        object[] vertexNamed = [new { datapointId = id, featureVector = new[] { 0f, 1, 0 } }];
        await http.PostJson(Catalog + "/products:batch", new { datapoints = vertexNamed }).Problem(400, "is invalid");
        await http.PostJson(Catalog + "/search", new { productId = id }).Problem(400, "is invalid");
        // An image upload under that id, sent byte for byte.
        var form = Api.Multipart(File.ReadAllBytes(Directory.GetFiles(TestPaths.Image("clothing/images/Hat")).Order()
            .First()));
        var (status, _) = await RawHttp.SendAsync(factory.Address, "PUT",
            $"{Catalog}/products/{Uri.EscapeDataString(id)}",
            form.Headers.ContentType!.ToString(), await form.ReadAsByteArrayAsync());
        Assert.Equal(400, status);
        await http.GetAsync(Catalog + "/products/fine").Problem(404, "fine");
        await AssertUnchanged(http);
    }

    [Fact]
    public async Task Ids_longer_than_the_limit_are_refused_and_the_rules_are_in_the_openapi_document()
    {
        var http = await ReadyAsync();
        await http.PutJson($"{Catalog}/products/{new string('é', 129)}", new { featureVector = new[] { 1f, 1, 0 } })
            .Problem(400, "longer than 256 bytes");
        await (await http.PutJson($"{Catalog}/products/{new string('é', 128)}",
            new { featureVector = new[] { 1f, 1, 0 } }))
            .Json(HttpStatusCode.OK);
        await (await http.DeleteAsync($"{Catalog}/products/{new string('é', 128)}")).Json(HttpStatusCode.NoContent);
        var doc = await (await http.GetAsync("/openapi/v1.json")).Content.ReadAsStringAsync();
        Assert.Contains("Product ids are opaque", doc);
        await AssertUnchanged(http);
    }
}
