using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Catalogs.Tests;
using Catalogs.VertexAI;
using Catalogs.VertexEmulator;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Catalogs.Cluster.Tests;

/// <summary>A catalog mirrored into Matching Engine (the emulator, with OAuth) from a real 3-silo cluster: a silo
/// dies in the middle of the stream, its shards' outboxes resume from PostgreSQL on the survivors, and Matching
/// Engine ends holding exactly what was acknowledged.</summary>
public sealed class MatchingEngineClusterTests(ITestOutputHelper output) : IAsyncLifetime
{
    const int Dimensions = 4, Shards = 3;
    WebApplication emulator = null!;
    Uri emulatorBase = null!;
    ServiceProvider clients = null!;
    Dictionary<string, string> vertexSettings = null!;

    public async Task InitializeAsync()
    {
        (emulator, emulatorBase) = await EmulatorApp.StartAsync(requireAuth: true);
        var keyFile = await emulator.CreateKeyFileAsync(emulatorBase,
            Path.Combine(TestPaths.NewTempDirectory("sa"), "key.json"));
        vertexSettings = new()
        {
            ["Vertex__ApiBase"] = emulatorBase.ToString(),
            ["Vertex__PublicEndpointBase"] = emulatorBase.ToString(),
            ["Vertex__StorageBase"] = emulatorBase.ToString(),
            ["Vertex__CredentialsFile"] = keyFile,
            ["Vertex__OperationPollInterval"] = "00:00:00.010",
            ["Catalogs__Sync__PollInterval"] = "00:00:00.050",
            ["Catalogs__Sync__MaxBackoff"] = "00:00:00.500",
            ["Catalogs__SnapshotEveryRecords"] = "100", // snapshots truncate the log during the run
        };
        var services = new ServiceCollection();
        services.AddVertexClients(new ConfigurationBuilder().AddInMemoryCollection(vertexSettings.ToDictionary(
            s => s.Key.Replace("__", ":"), s => (string?)s.Value)).Build());
        clients = services.BuildServiceProvider();
    }

    public async Task DisposeAsync()
    {
        clients.Dispose();
        await emulator.DisposeAsync();
    }

    MatchingEngineClient Vertex => clients.GetRequiredService<MatchingEngineClient>();

    static float[] VectorOf(int n, int version) => [n % 10 + 1, n / 10 % 10 + 1, version + 1, 1];

    [Fact]
    public async Task The_mirror_survives_a_killed_silo_and_ends_equal_to_what_was_acknowledged()
    {
        await using var cluster = await LocalCluster.StartAsync(silos: 3, apiSettings: vertexSettings,
            siloSettings: vertexSettings);
        var http = cluster.Api();
        var index = await Vertex.CreateTestIndexAsync(Dimensions, "SQUARED_L2_DISTANCE");
        var created = await http.PutAsJsonAsync("/v1/catalogs/mirror", new
        {
            dimensions = Dimensions,
            metric = "squaredL2",
            shards = Shards,
            replicas = 2,
            matchingEngine = new { index },
        });
        Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync());

        // Three rounds of upserts (every product rewritten each round) and some deletes; a silo dies after the
        // first. A batch is resent until acknowledged (upserts by id are idempotent).
        var expected = new Dictionary<string, float[]>();
        async Task SendAsync(object body, string path)
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (true)
            {
                try
                {
                    var response = await http.PostAsJsonAsync(path, body);
                    if (response.IsSuccessStatusCode) return;
                    Assert.True((int)response.StatusCode >= 500, await response.Content.ReadAsStringAsync());
                }
                catch (HttpRequestException) { }
                Assert.True(DateTime.UtcNow < deadline, $"{path} never acknowledged\n{cluster.Logs()}");
                await Task.Delay(100);
            }
        }
        for (int round = 0; round < 3; round++)
        {
            foreach (var chunk in Enumerable.Range(0, 300).Chunk(50))
            {
                var points = chunk.ToDictionary(n => $"p{n}", n => VectorOf(n, round));
                await SendAsync(new
                {
                    datapoints = points.Select(p => new { datapointId = p.Key, featureVector = p.Value }),
                }, "/v1/catalogs/mirror/products:batch");
                foreach (var (id, vector) in points) expected[id] = vector;
            }
            if (round == 0) cluster.Kill(cluster.Silos[1]);
        }
        foreach (var n in Enumerable.Range(0, 300).Where(n => n % 7 == 0))
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while ((int)(await http.DeleteAsync($"/v1/catalogs/mirror/products/p{n}")).StatusCode is >= 500)
            {
                Assert.True(DateTime.UtcNow < deadline, $"p{n} never deleted\n{cluster.Logs()}");
                await Task.Delay(100);
            }
            expected.Remove($"p{n}");
        }

        // Every shard's outbox drains (resumed by the primaries that came back on the survivors).
        var drained = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        string last = "";
        while (true)
        {
            var catalog = JsonNode.Parse(await http.GetStringAsync("/v1/catalogs/mirror"))!;
            last = catalog.ToJsonString();
            if (catalog["shards"]!.AsArray().All(s => s!["sync"]?["backlog"]?.GetValue<long>() == 0)) break;
            Assert.True(DateTime.UtcNow < drained, $"the outboxes did not drain: {last}\n{cluster.Logs()}");
            await Task.Delay(200);
        }
        Assert.Equal(expected.Count, (await Vertex.GetIndexAsync(index)).IndexStats!.VectorsCount);
        var endpoint = await Vertex.DeployOnNewEndpointAsync(index, "check");
        var read = await Vertex.ReadIndexDatapointsAsync(endpoint.PublicEndpointDomainName!, endpoint.Name!,
            new ReadIndexDatapointsRequest("check", [.. expected.Keys]));
        Assert.Equal(expected.Count, read.Datapoints!.Count);
        foreach (var mirrored in read.Datapoints!)
            Assert.Equal(expected[mirrored.DatapointId], mirrored.FeatureVector);
        output.WriteLine($"{expected.Count} products in Matching Engine, equal to what was acknowledged, after a " +
            "silo died mid-stream");
    }
}
