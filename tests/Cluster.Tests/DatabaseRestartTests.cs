using System.Net.Http.Json;
using Xunit.Abstractions;

namespace Catalogs.Cluster.Tests;

/// <summary>The cluster's servers going away under a live ingest. PostgreSQL: writes are refused while it is gone,
/// searches go on from memory (the shards do not retire: they reopen at the next write). Redis (membership only):
/// writes and searches go on. Nothing acknowledged is lost either way.</summary>
public sealed class DatabaseRestartTests(ITestOutputHelper output)
{
    [Fact]
    public async Task While_PostgreSQL_restarts_writes_answer_503_searches_answer_and_no_acknowledged_write_is_lost()
    {
        // A short retry budget, so that writes during the outage answer 503 instead of waiting it out.
        await using var cluster = await LocalCluster.StartAsync(silos: 2, apiSettings: new()
        {
            ["Api__RetryBudget"] = "00:00:00.500",
        });
        var http = cluster.Api();
        await using var traffic = await LiveTraffic.StartAsync(http, "restart");
        bool resumed = await traffic.ThroughAsync(() => cluster.Postgres.RestartAsync(TimeSpan.FromSeconds(3)));
        var lost = await traffic.LostAsync();

        output.WriteLine("write statuses: " + LiveTraffic.Describe(traffic.WriteStatuses));
        output.WriteLine("search statuses while PostgreSQL was down: " + LiveTraffic.Describe(traffic.SearchesDuring));
        Assert.True(resumed, $"writes did not resume.\n{cluster.Logs()}");
        Assert.All(traffic.WriteStatuses.Keys, s => Assert.Contains(s, new[] { 200, 503 }));
        Assert.True(traffic.WriteStatuses.GetValueOrDefault(503) > 0,
            "no write was refused while the database was down");
        // The shards answer searches from memory: the database is not on their path.
        Assert.True(traffic.SearchesDuring.GetValueOrDefault(200) > 0,
            "no search answered while the database was down");
        Assert.All(traffic.SearchesDuring.Keys, s => Assert.Equal(200, s));
        Assert.True(lost.Count == 0, $"{lost.Count} acknowledged writes lost: {string.Join(", ", lost.Take(10))}");
    }

    [Fact]
    public async Task While_Redis_is_down_writes_and_searches_go_on_and_a_silo_joins_once_it_is_back()
    {
        await using var cluster = await LocalCluster.StartAsync(silos: 2);
        var http = cluster.Api();
        await using var traffic = await LiveTraffic.StartAsync(http, "membership");
        bool resumed = await traffic.ThroughAsync(async () =>
        {
            cluster.Redis.Stop();
            await Task.Delay(TimeSpan.FromSeconds(8)); // several membership refresh periods
            await cluster.Redis.StartAgainAsync(); // with its data: membership must persist
        });
        var lost = await traffic.LostAsync();

        output.WriteLine("write statuses while Redis was down: " + LiveTraffic.Describe(traffic.WritesDuring));
        output.WriteLine("search statuses while Redis was down: " + LiveTraffic.Describe(traffic.SearchesDuring));
        Assert.True(resumed, $"writes did not go on.\n{cluster.Logs()}");
        // Membership is not on the path of a write (PostgreSQL) or a search (memory): both went on.
        Assert.True(traffic.WritesDuring.GetValueOrDefault(200) > 0, "no write was acknowledged while Redis was down");
        Assert.All(traffic.WriteStatuses.Keys, s => Assert.Equal(200, s));
        Assert.All(traffic.SearchesDuring.Keys, s => Assert.Equal(200, s));
        Assert.True(lost.Count == 0, $"{lost.Count} acknowledged writes lost: {string.Join(", ", lost.Take(10))}");
        Assert.All(cluster.Silos, s => Assert.True(s.Alive, $"{s.Name} exited.\n{cluster.Logs()}"));

        // Membership works again: a third silo joins, and the API host still answers through the cluster.
        await cluster.StartSiloAsync();
        var search = await http.PostAsJsonAsync("/v1/catalogs/membership/search",
            new { featureVector = new float[] { 1, 1, 1, -1 }, neighborCount = 3 });
        Assert.True(search.IsSuccessStatusCode, await search.Content.ReadAsStringAsync());
    }
}
