using System.Net;
using System.Text.Json.Nodes;
using Catalogs.Tests;

namespace Catalogs.ApiHost.Tests;

/// <summary>The ApiHost on a copy of a data directory written by an earlier version
/// (tests/Fixtures/legacy-data).</summary>
public sealed class LegacyDataFactory : ApiFactory
{
    public static string Fixtures => Path.Combine(TestPaths.RepoRoot, "tests", "Fixtures");

    public LegacyDataFactory()
    {
        var source = Path.Combine(Fixtures, "legacy-data");
        foreach (var file in Directory.GetFiles(source, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(DataPath, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }
}

public class LegacyDataTests(LegacyDataFactory factory) : IClassFixture<LegacyDataFactory>
{
    [Fact]
    public async Task A_data_directory_of_an_earlier_version_loads_with_every_product()
    {
        var http = factory.CreateClient();
        var expected = JsonNode.Parse(File.ReadAllText(Path.Combine(LegacyDataFactory.Fixtures,
            "legacy-data-expected.json")))!.AsObject();
        var list = await (await http.GetAsync("/v1/catalogs")).Json(HttpStatusCode.OK);
        Assert.Equal(["legacy-exact", "legacy-hnsw"], list["catalogs"]!.AsArray().Select(c =>
            c!["name"]!.GetValue<string>()).Order());
        foreach (var (catalog, products) in expected)
        {
            var info = await (await http.GetAsync($"/v1/catalogs/{catalog}")).Json(HttpStatusCode.OK);
            Assert.Equal(products!.AsObject().Count, info["products"]!.GetValue<long>());
            foreach (var (id, product) in products.AsObject())
            {
                var actual =
                    await (await http.GetAsync($"/v1/catalogs/{catalog}/products/{id}")).Json(HttpStatusCode.OK);
                actual.AsObject().Remove("updatedAt");
                // Derived from the stored text, which this version indexes (the fixture predates it).
                actual.AsObject().Remove("sparseEmbedding");
                Assert.True(JsonNode.DeepEquals(product, actual), $"{catalog}/{id}: {actual.ToJsonString()}");
                // Found by its own vector, too (among equally close ones: some vectors are parallel): the index loaded.
                var search = await (await http.PostJson($"/v1/catalogs/{catalog}/search",
                    new
                    {
                        featureVector = actual["featureVector"]!.AsArray().Select(x => x!.GetValue<float>()).ToArray(),
                        neighborCount = 10,
                    }))
                    .Json(HttpStatusCode.OK);
                var closest = search["neighbors"]!.AsArray().Where(n =>
                    n!["distance"]!.GetValue<float>() < 1e-4f).Select(n => n!["id"]!.GetValue<string>());
                Assert.Contains(id, closest);
            }
        }
        await http.GetAsync("/v1/catalogs/legacy-hnsw/products/p0").Problem(404, "p0");   // deleted then
        await http.GetAsync("/v1/catalogs/legacy-exact/products/e3").Problem(404, "e3");
    }
}
