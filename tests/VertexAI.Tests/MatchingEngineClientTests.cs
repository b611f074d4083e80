using System.Net;
using System.Text.Json;
using Catalogs.VertexEmulator;
using Microsoft.Extensions.DependencyInjection;

namespace Catalogs.VertexAI.Tests;

public class MatchingEngineClientTests(EmulatorFixture emulator) : IClassFixture<EmulatorFixture>
{
    const string Parent = EmulatorFixture.Parent;

    static IndexResource NewIndex(string update = "STREAM_UPDATE", int dimensions = 4) => new(null, "shoes",
        new IndexMetadata(
        new IndexConfig(dimensions, "COSINE_DISTANCE", new AlgorithmConfig(new TreeAhConfig(500, 7)),
            ApproximateNeighborsCount: 10, FeatureNormType: "UNIT_L2_NORM", ShardSize: "SHARD_SIZE_SMALL")),
        update);

    async Task<string> CreateIndexAsync(IndexResource index)
    {
        var done = await emulator.Vertex.WaitAsync(await emulator.Vertex.CreateIndexAsync(Parent, index));
        return done.Response!.Value.GetProperty("name").GetString()!;
    }

    async Task<(string Endpoint, string Domain)> DeployAsync(string index, string deployedId)
    {
        var created = await emulator.Vertex.WaitAsync(await emulator.Vertex.CreateIndexEndpointAsync(Parent,
            new IndexEndpoint(null, "public", PublicEndpointEnabled: true)));
        var endpoint = created.Response!.Value.Deserialize<IndexEndpoint>(GoogleJson.Options)!;
        await emulator.Vertex.WaitAsync(await emulator.Vertex.DeployIndexAsync(endpoint.Name!,
            new DeployedIndex(deployedId, index)));
        var deployed = await emulator.Vertex.GetIndexEndpointAsync(endpoint.Name!);
        Assert.Equal(deployedId, Assert.Single(deployed.DeployedIndexes!).Id);
        return (endpoint.Name!, endpoint.PublicEndpointDomainName!);
    }

    static IndexDatapoint Point(string id, float[] v, string color, long price, string brand) =>
        new(id, v, [new Restriction("color", [color])], [new NumericRestriction("price", ValueInt: price)],
            new CrowdingTag(brand));

    [Fact]
    public async Task Streaming_upserts_removals_and_filtered_crowded_queries_round_trip_with_oauth()
    {
        long refusedBefore = (await emulator.StatsAsync()).Unauthenticated;
        var index = await CreateIndexAsync(NewIndex());
        Assert.True(ResourceNames.IsIndex(index));
        var (endpoint, domain) = await DeployAsync(index, "shoes_v1");

        await emulator.Vertex.UpsertDatapointsAsync(index,
        [
            Point("a", [1, 0, 0, 0], "red", 10, "acme"),
            Point("b", [0.9f, 0.1f, 0, 0], "red", 20, "acme"),
            Point("c", [0.8f, 0.2f, 0, 0], "red", 30, "zeta"),
            Point("d", [0.95f, 0, 0.05f, 0], "blue", 15, "zeta"),
            Point("e", [0, 1, 0, 0], "red", 5, "omni"),
        ]);
        Assert.Equal(5, (await emulator.Vertex.GetIndexAsync(index)).IndexStats!.VectorsCount);

        var query = new IndexDatapoint("q", [1, 0, 0, 0], [new Restriction("color", ["red"])],
            [new NumericRestriction("price", ValueInt: 25, Op: "LESS")]);
        var found = await emulator.Vertex.FindNeighborsAsync(domain, endpoint, new FindNeighborsRequest("shoes_v1",
            [new NeighborQuery(query, 3)]));
        var neighbors = Assert.Single(found.NearestNeighbors!).Neighbors!;
        Assert.Equal(["a", "b", "e"], neighbors.Select(n => n.Datapoint.DatapointId));
        Assert.True(neighbors[0].Distance < neighbors[1].Distance);

        // Crowding: at most one per brand.
        var crowded = await emulator.Vertex.FindNeighborsAsync(domain, endpoint, new FindNeighborsRequest("shoes_v1",
            [new NeighborQuery(new IndexDatapoint("q", [1, 0, 0, 0]), 3, PerCrowdingAttributeNeighborCount: 1)]));
        Assert.Equal(["a", "d", "e"], crowded.NearestNeighbors![0].Neighbors!.Select(n => n.Datapoint.DatapointId));

        await emulator.Vertex.RemoveDatapointsAsync(index, ["a", "missing"]);
        var read = await emulator.Vertex.ReadIndexDatapointsAsync(domain, endpoint,
            new ReadIndexDatapointsRequest("shoes_v1", ["a", "b"]));
        var b = Assert.Single(read.Datapoints!);
        Assert.Equal("b", b.DatapointId);
        Assert.Equal(20, b.NumericRestricts![0].ValueInt);
        Assert.Equal("acme", b.CrowdingTag!.CrowdingAttribute);
        // every request carried a valid token
        Assert.Equal(refusedBefore, (await emulator.StatsAsync()).Unauthenticated);
    }

    [Fact]
    public async Task Requests_without_a_valid_token_are_refused()
    {
        using var anonymous = emulator.Clients(new() { ["Vertex:Anonymous"] = "true" });
        var error = await Assert.ThrowsAsync<GoogleApiException>(() =>
            anonymous.GetRequiredService<MatchingEngineClient>().GetIndexAsync($"{Parent}/indexes/1"));
        Assert.Equal(HttpStatusCode.Unauthorized, error.StatusCode);
        Assert.Equal("UNAUTHENTICATED", error.Status);
        Assert.False(error.IsTransient);
    }

    [Fact]
    public async Task Rejected_datapoints_and_bad_names_fail_clearly_and_change_nothing()
    {
        var index = await CreateIndexAsync(NewIndex());
        await emulator.Vertex.UpsertDatapointsAsync(index, [new IndexDatapoint("ok", [1, 2, 3, 4])]);
        var error = await Assert.ThrowsAsync<GoogleApiException>(() => emulator.Vertex.UpsertDatapointsAsync(index,
            [new IndexDatapoint("x", [1, 2, 3, 4]), new IndexDatapoint("y", [1, 2])]));
        Assert.Equal(HttpStatusCode.BadRequest, error.StatusCode);
        Assert.Equal("INVALID_ARGUMENT", error.Status);
        Assert.Contains("dimensions", error.ApiMessage);
        Assert.False(error.IsTransient);
        // x was not applied either
        Assert.Equal(1, (await emulator.Vertex.GetIndexAsync(index)).IndexStats!.VectorsCount);

        await Assert.ThrowsAsync<ArgumentException>(() => emulator.Vertex.GetIndexAsync("projects/x/indexes/1"));
        await Assert.ThrowsAsync<ArgumentException>(() => emulator.Vertex.CreateIndexAsync("projects/catalogs-test",
            NewIndex()));
        var unknown = await Assert.ThrowsAsync<GoogleApiException>(async () =>
            await emulator.Vertex.CreateIndexAsync(Parent,
            NewIndex() with
            {
                Metadata = new IndexMetadata(
                    new IndexConfig(4, "HAMMING", new AlgorithmConfig(BruteForceConfig: new BruteForceConfig()))),
            }));
        Assert.Contains("distanceMeasureType", unknown.ApiMessage);
        var batchOnly = await CreateIndexAsync(NewIndex("BATCH_UPDATE"));
        Assert.Equal("FAILED_PRECONDITION", (await Assert.ThrowsAsync<GoogleApiException>(() =>
            emulator.Vertex.UpsertDatapointsAsync(batchOnly, [new IndexDatapoint("a", [1, 2, 3, 4])]))).Status);
    }

    [Fact]
    public async Task Throttling_and_outages_are_transient_errors()
    {
        var index = await CreateIndexAsync(NewIndex());
        try
        {
            await emulator.SetFaultsAsync(new FaultSettings(QuotaRate: 1, PathContains: ":upsertDatapoints"));
            var quota = await Assert.ThrowsAsync<GoogleApiException>(() => emulator.Vertex.UpsertDatapointsAsync(index,
                [new IndexDatapoint("a", [1, 2, 3, 4])]));
            Assert.Equal(HttpStatusCode.TooManyRequests, quota.StatusCode);
            Assert.Equal("RESOURCE_EXHAUSTED", quota.Status);
            Assert.True(quota.IsTransient);
            await emulator.SetFaultsAsync(new FaultSettings(ErrorRate: 1, ErrorStatus: 503,
                PathContains: ":upsertDatapoints"));
            Assert.True((await Assert.ThrowsAsync<GoogleApiException>(() => emulator.Vertex.UpsertDatapointsAsync(index,
                [new IndexDatapoint("a", [1, 2, 3, 4])]))).IsTransient);
            await emulator.SetFaultsAsync(new FaultSettings(DropBeforeRate: 1, PathContains: ":upsertDatapoints"));
            await Assert.ThrowsAsync<HttpRequestException>(() => emulator.Vertex.UpsertDatapointsAsync(index,
                [new IndexDatapoint("a", [1, 2, 3, 4])]));
        }
        finally { await emulator.SetFaultsAsync(new FaultSettings()); }
        Assert.Equal(0, (await emulator.Vertex.GetIndexAsync(index)).IndexStats!.VectorsCount);
    }

    [Fact]
    public async Task A_batch_update_reads_jsonl_from_cloud_storage_and_a_bad_file_fails_the_operation()
    {
        var index = await CreateIndexAsync(NewIndex("BATCH_UPDATE"));
        var points = Enumerable.Range(0, 50).Select(i => Point($"p{i}", [i, 1, 0, 0], i % 2 == 0 ? "red" : "blue", i,
            $"b{i % 3}")).ToList();
        var document = JsonlRecord.Document(points);
        var parsed = System.Text.Encoding.UTF8.GetString(document).Split('\n',
            StringSplitOptions.RemoveEmptyEntries).Select(JsonlRecord.Parse).ToList();
        Assert.Equal(points, parsed, new DatapointComparer()); // the JSONL export round-trips
        await emulator.Storage.UploadAsync("exports", "shoes/1/part-0.json", new MemoryStream(document));
        await emulator.Storage.UploadAsync("exports", "shoes/1/delete/ids.txt",
            new MemoryStream("p0\np1\n"u8.ToArray()));
        await emulator.Vertex.WaitAsync(await emulator.Vertex.PatchIndexMetadataAsync(index,
            new IndexMetadata(ContentsDeltaUri: "gs://exports/shoes/1", IsCompleteOverwrite: true)));
        var stats = (await emulator.Vertex.GetIndexAsync(index)).IndexStats!;
        Assert.Equal(48, stats.VectorsCount);

        await emulator.Storage.UploadAsync("exports", "shoes/2/part-0.json",
            new MemoryStream("{\"id\": \"x\"}\n"u8.ToArray()));
        var failed = await Assert.ThrowsAsync<GoogleApiException>(async () =>
            await emulator.Vertex.WaitAsync(await emulator.Vertex.PatchIndexMetadataAsync(index,
                new IndexMetadata(ContentsDeltaUri: "gs://exports/shoes/2"))));
        Assert.Equal("INVALID_ARGUMENT", failed.Status);
        Assert.Equal(48, (await emulator.Vertex.GetIndexAsync(index)).IndexStats!.VectorsCount);
    }

    /// <summary>Datapoints compared by content (records hold lists).</summary>
    sealed class DatapointComparer : IEqualityComparer<IndexDatapoint>
    {
        public bool Equals(IndexDatapoint? x, IndexDatapoint? y) => JsonSerializer.Serialize(x,
            GoogleJson.Options) == JsonSerializer.Serialize(y, GoogleJson.Options);
        public int GetHashCode(IndexDatapoint obj) => obj.DatapointId.GetHashCode();
    }
}
