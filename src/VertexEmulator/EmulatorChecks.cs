using System.Text.Json;
using Catalogs.VertexAI;

namespace Catalogs.VertexEmulator;

/// <summary>What tests do against the emulator through the real client, in one place: create an index, and deploy
/// one to an endpoint of its own to read it back.</summary>
public static class EmulatorChecks
{
    public const string Parent = "projects/catalogs-dev/locations/europe-west4";

    /// <summary>A brute-force index (so reads are exact), created and waited for; its resource name.</summary>
    public static async Task<string> CreateTestIndexAsync(this MatchingEngineClient vertex, int dimensions,
        string distance = "COSINE_DISTANCE", string update = "STREAM_UPDATE")
    {
        var op = await vertex.CreateIndexAsync(Parent, new IndexResource(null, "test",
            new IndexMetadata(new IndexConfig(dimensions, distance,
                new AlgorithmConfig(BruteForceConfig: new BruteForceConfig()))), update));
        return (await vertex.WaitAsync(op)).Response!.Value.GetProperty("name").GetString()!;
    }

    /// <summary><paramref name="index"/> deployed as <paramref name="deployedIndexId"/> on a new endpoint.</summary>
    public static async Task<IndexEndpoint> DeployOnNewEndpointAsync(this MatchingEngineClient vertex, string index,
        string deployedIndexId)
    {
        var endpoint = (await vertex.WaitAsync(await vertex.CreateIndexEndpointAsync(Parent,
            new IndexEndpoint(null, deployedIndexId)))).Response!.Value.Deserialize<IndexEndpoint>(GoogleJson.Options)!;
        await vertex.WaitAsync(await vertex.DeployIndexAsync(endpoint.Name!,
            new DeployedIndex(deployedIndexId, index)));
        return endpoint;
    }
}
