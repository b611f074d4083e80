using System.Text.Json;
using Catalogs.VertexCli;

namespace Catalogs.VertexAI.Tests;

/// <summary>The catalogs-vertex CLI against the emulator (with OAuth), as an operator would use it on real
/// GCP.</summary>
public class VertexCliTests(EmulatorFixture emulator) : IClassFixture<EmulatorFixture>
{
    async Task<JsonElement> Run(params string[] args)
    {
        var output = new StringWriter();
        int exit = await VertexCommands.RunAsync([.. args, "--credentials", emulator.KeyFile, "--api-base",
            emulator.BaseAddress.ToString()], output);
        Assert.True(exit == 0, $"exit {exit}: {output}");
        return JsonDocument.Parse(output.ToString()).RootElement;
    }

    [Fact]
    public async Task Creates_describes_and_deploys_an_index_shaped_like_a_catalog()
    {
        var index = await Run("create-index", "--parent", EmulatorFixture.Parent, "--display-name", "fashion",
            "--dimensions", "1280", "--metric", "cosine");
        var name = index.GetProperty("name").GetString()!;
        Assert.True(ResourceNames.IsIndex(name));
        var config = index.GetProperty("metadata").GetProperty("config");
        Assert.Equal(1280, config.GetProperty("dimensions").GetInt32());
        // cosine = unit norm + dot
        Assert.Equal("DOT_PRODUCT_DISTANCE", config.GetProperty("distanceMeasureType").GetString());
        Assert.Equal("UNIT_L2_NORM", config.GetProperty("featureNormType").GetString());
        Assert.Equal("STREAM_UPDATE", index.GetProperty("indexUpdateMethod").GetString());

        var described = await Run("describe-index", "--index", name);
        Assert.Equal("fashion", described.GetProperty("displayName").GetString());

        var endpoint = await Run("create-endpoint", "--parent", EmulatorFixture.Parent, "--display-name", "public");
        var endpointName = endpoint.GetProperty("name").GetString()!;
        var deployed = await Run("deploy", "--endpoint", endpointName, "--index", name, "--deployed-id", "fashion_v1");
        Assert.Equal("fashion_v1", deployed.GetProperty("deployedIndexes")[0].GetProperty("id").GetString());
        Assert.False(string.IsNullOrEmpty((await Run("describe-endpoint", "--endpoint",
            endpointName)).GetProperty("publicEndpointDomainName").GetString()));
    }

    [Fact]
    public async Task A_malformed_name_fails_with_a_non_zero_exit()
    {
        var output = new StringWriter();
        Assert.NotEqual(0, await VertexCommands.RunAsync(["describe-index", "--index", "indexes/1", "--credentials",
            emulator.KeyFile, "--api-base", emulator.BaseAddress.ToString()], output));
    }
}
