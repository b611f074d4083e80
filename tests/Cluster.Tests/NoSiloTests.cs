using System.Net;
using System.Net.Http.Json;

namespace Catalogs.Cluster.Tests;

/// <summary>An API host whose every silo is gone: it answers 503 problem+json (never 500) and serves again, with
/// nothing acknowledged lost, once a silo is back.</summary>
public sealed class NoSiloTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task With_every_silo_down_requests_get_503_and_a_new_silo_serves_the_acknowledged_products()
    {
        await using var cluster = await LocalCluster.StartAsync(silos: 1,
            apiSettings: new() { ["Api__RetryBudget"] = "00:00:01" });
        var http = cluster.Api();
        var created = await http.PutAsJsonAsync("/v1/catalogs/lonely", new { dimensions = 2, metric = "dot" });
        Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync());
        var put = await http.PutAsJsonAsync("/v1/catalogs/lonely/products/a", new { featureVector = new[] { 1f, 2 } });
        Assert.True(put.IsSuccessStatusCode, await put.Content.ReadAsStringAsync());

        var clock = System.Diagnostics.Stopwatch.StartNew();
        cluster.Kill(cluster.Silos[0]);
        var statuses = new List<HttpStatusCode>();
        for (int i = 0; i < 3; i++)
        {
            var write = await http.PutAsJsonAsync($"/v1/catalogs/lonely/products/b{i}",
                new { featureVector = new[] { 2f, 1 } });
            var search = await http.PostAsJsonAsync("/v1/catalogs/lonely/search",
                new { featureVector = new[] { 1f, 0 } });
            foreach (var response in new[] { write, search })
            {
                statuses.Add(response.StatusCode);
                Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            }
        }
        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.ServiceUnavailable, s));

        output.WriteLine($"refusals took {clock.Elapsed.TotalSeconds:F1} s");
        await cluster.StartSiloAsync();
        output.WriteLine($"a new silo is active after {clock.Elapsed.TotalSeconds:F1} s");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        HttpResponseMessage read;
        while (!(read = await http.GetAsync("/v1/catalogs/lonely/products/a")).IsSuccessStatusCode)
        {
            Assert.True(DateTime.UtcNow < deadline, $"no silo served again: {(int)read.StatusCode}\n{cluster.Logs()}");
            await Task.Delay(250);
        }
        output.WriteLine($"served again after {clock.Elapsed.TotalSeconds:F1} s");
        var again = await http.PutAsJsonAsync("/v1/catalogs/lonely/products/c",
            new { featureVector = new[] { 3f, 1 } });
        Assert.True(again.IsSuccessStatusCode, await again.Content.ReadAsStringAsync());
    }
}
