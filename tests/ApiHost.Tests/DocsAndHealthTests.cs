using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

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
        var ready = await http.GetFromJsonAsync<JsonElement>("/readyz");
        Assert.Equal("Healthy", ready.GetProperty("status").GetString());
        var grains = ready.GetProperty("checks").EnumerateArray()
            .Single(c => c.GetProperty("name").GetString() == "grains");
        Assert.Matches("^[0-9]+ catalogs$", grains.GetProperty("description").GetString());
        await http.GetAsync("/v1/nothing-here").Problem(404, "no endpoint");
    }

    [Fact]
    public async Task Metrics_are_served_for_Prometheus_with_the_shards_and_the_requests()
    {
        Assert.True((await http.PutAsJsonAsync("/v1/catalogs/metered", new { dimensions = 2, metric = "dot" }))
            .IsSuccessStatusCode);
        Assert.True((await http.PutAsJsonAsync("/v1/catalogs/metered/products/a", new
        {
            featureVector =
            new[] { 1f, 2 }
        })).IsSuccessStatusCode);
        var search = await http.PostAsJsonAsync("/v1/catalogs/metered/search", new
        {
            featureVector = new[] { 1f, 0 },
            consistency = "strong"
        });
        Assert.Equal(HttpStatusCode.OK, search.StatusCode);
        var metrics = await http.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        var text = await metrics.Content.ReadAsStringAsync();
        // The exporter names instruments the Prometheus way: dots to underscores, the unit appended.
        Assert.Contains("catalogs_shard_search_duration_seconds_bucket{", text);
        Assert.Matches(@"catalogs_shard_products\{[^}]*shard=""default/metered/[^""]+/0""[^}]*\} 1", text);
        Assert.Contains("catalogs_shard_lease_acquired_total{", text);
        Assert.Contains("http_server_request_duration_seconds_bucket{", text);
        await http.PostAsJsonAsync("/v1/catalogs/metered/search", new
        {
            featureVector = new[] { 1f, 0 },
            consistency = "sometimes"
        }).Problem(400, "consistency");
    }
}
