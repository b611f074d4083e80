using System.Net;
using System.Net.Http.Json;
using Catalogs.Tests;

namespace Catalogs.Cluster.Tests;

/// <summary>Redis and PostgreSQL down while a silo and an API host start: both processes stay up, log why, answer
/// <c>/readyz</c> 503 naming what they wait for (the API host refuses requests with 503 problem+json meanwhile),
/// and serve once the servers are back, without a restart.</summary>
public sealed class DependenciesDownTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task A_cluster_started_before_its_servers_waits_says_why_and_serves_once_they_answer()
    {
        await using var cluster = await LocalCluster.StartAsync(silos: 0, apis: 0);
        cluster.Redis.Stop();
        await cluster.Postgres.StopAsync();
        var silo = await cluster.StartSiloAsync(untilReady: false);
        var api = await cluster.StartApiAsync(untilReady: false);

        Assert.True(await Eventually.HoldsAsync(async () => await NotReadyBecauseAsync(silo, "Redis")),
            cluster.Logs());
        Assert.True(await Eventually.HoldsAsync(async () => await NotReadyBecauseAsync(api, "cluster")),
            cluster.Logs());
        var refused = await cluster.Api().GetAsync("/v1/catalogs");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        Assert.Contains("not reached its cluster", await refused.Content.ReadAsStringAsync());

        await cluster.Redis.StartAgainAsync();
        Assert.True(await Eventually.HoldsAsync(async () => await NotReadyBecauseAsync(silo, "PostgreSQL")),
            cluster.Logs());
        Assert.Contains("Redis (membership) at", File.ReadAllText(silo.Log));
        Assert.True(silo.Alive && api.Alive, cluster.Logs());

        await cluster.Postgres.StartAgainAsync();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Assert.True(await Eventually.HoldsAsync(async () => await ReadyAsync(api), TimeSpan.FromSeconds(90)),
            cluster.Logs());
        output.WriteLine($"the API host was ready {clock.Elapsed.TotalSeconds:F1} s after PostgreSQL came back");
        var created = await cluster.Api().PutAsJsonAsync("/v1/catalogs/late", new { dimensions = 2, metric = "dot" });
        Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync());
        var put = await cluster.Api().PutAsJsonAsync("/v1/catalogs/late/products/a",
            new { featureVector = new[] { 1f, 2 } });
        Assert.True(put.IsSuccessStatusCode, await put.Content.ReadAsStringAsync());
    }

    /// <summary>A 503 from <c>/readyz</c> whose body names <paramref name="dependency"/> as awaited.</summary>
    static async Task<bool> NotReadyBecauseAsync(LocalCluster.Member member, string dependency)
    {
        try
        {
            var response = await member.Http!.GetAsync("/readyz");
            return response.StatusCode == HttpStatusCode.ServiceUnavailable
                && (await response.Content.ReadAsStringAsync()).Contains($"waiting for {dependency}");
        }
        catch (HttpRequestException) { return false; } // not listening yet
    }

    static async Task<bool> ReadyAsync(LocalCluster.Member member)
    {
        try { return (await member.Http!.GetAsync("/readyz")).IsSuccessStatusCode; }
        catch (HttpRequestException) { return false; }
    }
}
