using System.Net;
using System.Text.Json.Nodes;

namespace Catalogs.ApiHost.Tests;

/// <summary>Vector-only catalogs through the API: lifecycle, sharded search against a brute-force oracle, filters,
/// crowding.</summary>
[Collection(ApiCollection.Name)]
public class VectorCatalogTests(ApiFactory factory)
{
    readonly HttpClient http = factory.CreateClient();

    sealed record Point(string Id, float[] V, string Color, double Price, string Brand);

    [Fact]
    public async Task Catalog_lifecycle_products_and_search_match_a_brute_force_oracle()
    {
        const string url = "/v1/catalogs/vectors-lifecycle";
        var created = await (await http.PutJson(url,
            new { dimensions = 4, metric = "squaredL2", shards = 3 })).Json(HttpStatusCode.Created);
        Assert.Equal(3, created["shards"]!.AsArray().Count);
        Assert.Equal("hnsw", created["config"]!["index"]!["kind"]!.GetValue<string>());
        Assert.Equal("none", created["config"]!["index"]!["quantization"]!.GetValue<string>());
        await (await http.PutJson(url,
            new { dimensions = 4, metric = "squaredL2", shards = 3, index = new { kind = "hnsw" } }))
            .Json(HttpStatusCode.OK);

        var rng = new Random(7);
        string[] colors = ["red", "blue", "green"];
        var points = Enumerable.Range(0, 120).Select(i => new Point($"p{i}",
            Enumerable.Range(0, 4).Select(_ => (float)rng.NextDouble()).ToArray(), colors[i % 3], i,
                $"brand{i % 7}")).ToList();
        var batch = new
        {
            datapoints = points.Select(p => new
            {
                id = p.Id,
                featureVector = p.V,
                restricts = new[] { new { @namespace = "color", allowList = new[] { p.Color } } },
                numericRestricts = new[] { new { @namespace = "price", valueDouble = p.Price } },
                crowdingTag = new { crowdingAttribute = p.Brand },
                attributes = new { name = "Product " + p.Id },
            }),
        };
        Assert.Equal(120, (await (await http.PostJson(url + "/products:batch",
            batch)).Json(HttpStatusCode.OK))["upserted"]!.GetValue<int>());
        var info = await (await http.GetAsync(url)).Json(HttpStatusCode.OK);
        Assert.Equal(120, info["products"]!.GetValue<long>());
        Assert.All(info["shards"]!.AsArray(), s => Assert.True(s!["products"]!.GetValue<int>() > 0));

        var q = new float[] { 0.5f, 0.5f, 0.5f, 0.5f };
        static double D(float[] a, float[] b) => a.Zip(b, (x, y) => (double)(x - y) * (x - y)).Sum();

        // Unfiltered.
        var plain = await (await http.PostJson(url + "/search",
            new { featureVector = q, neighborCount = 7 })).Json(HttpStatusCode.OK);
        Assert.Equal(points.OrderBy(p => D(q, p.V)).Take(7).Select(p => p.Id), Api.Ids(plain));
        Assert.Equal("local", plain["source"]!.GetValue<string>());
        Assert.False(plain["degraded"]!.GetValue<bool>());
        // Routing to Matching Engine needs a binding; an unknown routing is refused.
        await http.PostJson(url + "/search", new { featureVector = q, routing = "matchingEngine" }).Problem(422,
            "matchingEngine binding");
        await http.PostJson(url + "/search", new { featureVector = q, routing = "nearest" }).Problem(400,
            "routing 'nearest' is not one of local, matchingEngine, hybrid");

        // Restricts + numeric + crowding, against the oracle.
        var filtered = await (await http.PostJson(url + "/search", new
        {
            featureVector = q,
            neighborCount = 8,
            restricts = new[] { new { @namespace = "color", allowList = new[] { "red", "blue" } } },
            numericRestricts = new[] { new { @namespace = "price", valueDouble = 30.0, op = "GREATER_EQUAL" } },
            perCrowdingAttributeNeighborCount = 1,
        })).Json(HttpStatusCode.OK);
        var expected = new List<string>();
        var perBrand = new HashSet<string>();
        foreach (var p in points.Where(p => p.Color != "green" && p.Price >= 30).OrderBy(p => D(q, p.V)))
            if (expected.Count < 8 && perBrand.Add(p.Brand)) expected.Add(p.Id);
        Assert.Equal(expected, Api.Ids(filtered));
        Assert.Equal("Product " + expected[0],
            filtered["neighbors"]![0]!["datapoint"]!["attributes"]!["name"]!.GetValue<string>());

        // Similar products to an existing one exclude it.
        var similar = await (await http.PostJson(url + "/search",
            new { productId = "p5", neighborCount = 3 })).Json(HttpStatusCode.OK);
        Assert.Equal(points.Where(p => p.Id != "p5").OrderBy(p => D(points[5].V, p.V)).Take(3).Select(p => p.Id),
            Api.Ids(similar));

        // Read, delete, and the delete is visible at once.
        var stored = await (await http.GetAsync(url + "/products/p5")).Json(HttpStatusCode.OK);
        Assert.Equal(points[5].V, stored["featureVector"]!.AsArray().Select(x => x!.GetValue<float>()));
        Assert.Equal(points[5].Color, stored["restricts"]![0]!["allowList"]![0]!.GetValue<string>());
        await (await http.DeleteAsync(url + "/products/p5")).Json(HttpStatusCode.NoContent);
        await http.GetAsync(url + "/products/p5").Problem(404, "p5");
        await http.DeleteAsync(url + "/products/p5").Problem(404, "p5");
        var after = await (await http.PostJson(url + "/search",
            new { featureVector = points[5].V, neighborCount = 120 })).Json(HttpStatusCode.OK);
        Assert.DoesNotContain("p5", Api.Ids(after));

        // A catalog with products keeps its dimensions (no encoder could compute others); an update of the vector
        // replaces it.
        await http.PutJson(url, new { dimensions = 5, metric = "cosine", shards = 3 }).Problem(409, "dimensions");
        await (await http.PutJson(url + "/products/p6", new { featureVector = q })).Json(HttpStatusCode.OK);
        var top = await (await http.PostJson(url + "/search",
            new { featureVector = q, neighborCount = 1 })).Json(HttpStatusCode.OK);
        Assert.Equal(["p6"], Api.Ids(top));

        var list = await (await http.GetAsync("/v1/catalogs")).Json(HttpStatusCode.OK);
        Assert.Contains(list["catalogs"]!.AsArray(), c => c!["name"]!.GetValue<string>() == "vectors-lifecycle");
        await (await http.DeleteAsync(url)).Json(HttpStatusCode.NoContent);
        await http.GetAsync(url).Problem(404, "does not exist");
        await http.PostJson(url + "/search", new { featureVector = q }).Problem(404, "does not exist");
    }

    [Theory]
    [InlineData("l1", "none")]
    [InlineData("cosine", "int8")]
    [InlineData("dot", "int8")]
    public async Task Every_metric_and_walk_kind_ranks_like_a_brute_force_oracle(string metric, string quantization)
    {
        var url = $"/v1/catalogs/metric-{metric}-{quantization}";
        var created = await (await http.PutJson(url,
            new { dimensions = 8, metric, shards = 2, index = new { quantization } })).Json(HttpStatusCode.Created);
        Assert.Equal(quantization, created["config"]!["index"]!["quantization"]!.GetValue<string>());
        var rng = new Random(3);
        var points = Enumerable.Range(0, 300).Select(i => (Id: $"p{i}", V: Enumerable.Range(0, 8).Select(_ =>
            (float)rng.NextDouble() - 0.3f).ToArray())).ToList();
        await (await http.PostJson(url + "/products:batch",
            new { datapoints = points.Select(p => new { id = p.Id, featureVector = p.V }) })).Json(HttpStatusCode.OK);
        for (int q = 0; q < 5; q++)
        {
            var query = Enumerable.Range(0, 8).Select(_ => (float)rng.NextDouble() - 0.3f).ToArray();
            float Distance(float[] v) => metric switch
            {
                "l1" => v.Zip(query).Sum(p => Math.Abs(p.First - p.Second)),
                "dot" => -v.Zip(query).Sum(p => p.First * p.Second),
                _ => 1 - v.Zip(query).Sum(p => p.First * p.Second) / MathF.Sqrt(v.Sum(x => x * x) * query.Sum(x =>
                    x * x)),
            };
            var expected = points.OrderBy(p => Distance(p.V)).Take(5).Select(p => p.Id).ToArray();
            var found = await (await http.PostJson(url + "/search",
                new { featureVector = query, neighborCount = 5 })).Json(HttpStatusCode.OK);
            Assert.Equal(expected, found["neighbors"]!.AsArray().Select(n => n!["id"]!.GetValue<string>()).ToArray());
        }
    }

    [Fact]
    public async Task Facets_count_the_tokens_and_span_the_numbers_of_the_products_as_they_change()
    {
        const string url = "/v1/catalogs/vectors-facets";
        await (await http.PutJson(url, new { dimensions = 2, metric = "dot", shards = 3 }))
            .Json(HttpStatusCode.Created);
        string[] colors = ["red", "red", "red", "blue", "blue", "green"];
        var batch = new
        {
            datapoints = colors.Select((c, i) => new
            {
                id = $"f{i}",
                featureVector = new[] { 1f, i },
                restricts = new[]
                {
                    new { @namespace = "color", allowList = new[] { c } },
                    new { @namespace = "size", allowList = i % 2 == 0 ? new[] { "s", "m" } : new[] { "l" } },
                },
                numericRestricts = new[] { new { @namespace = "price", valueDouble = 10.0 * (i + 1) } },
            }).ToArray(),
        };
        await (await http.PostJson(url + "/products:batch", batch)).Json(HttpStatusCode.OK);
        // Changes move the counts: f0 becomes green, f5 (the dearest) goes.
        await (await http.PutJson(url + "/products/f0", new
        {
            featureVector = new[] { 1f, 0 },
            restricts = new[] { new { @namespace = "color", allowList = new[] { "green" } } },
            numericRestricts = new[] { new { @namespace = "price", valueDouble = 5.0 } },
        })).Json(HttpStatusCode.OK);
        Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync(url + "/products/f5")).StatusCode);

        var facets = await (await http.GetAsync(url + "/facets?tokens=2")).Json(HttpStatusCode.OK);
        var color = facets["restricts"]!.AsArray().Single(r => r!["namespace"]!.GetValue<string>() == "color")!;
        Assert.Equal("blue:2,red:2", string.Join(",", color["tokens"]!.AsArray().Select(t =>
            $"{t!["token"]}:{t["products"]}")));
        Assert.Equal(3, color["distinctTokens"]!.GetValue<int>()); // green: 1, left out by tokens=2
        var size = facets["restricts"]!.AsArray().Single(r => r!["namespace"]!.GetValue<string>() == "size")!;
        Assert.Equal("l:2,m:2", string.Join(",", size["tokens"]!.AsArray().Select(t =>
            $"{t!["token"]}:{t["products"]}")));
        var price = facets["numeric"]!.AsArray().Single()!;
        Assert.Equal((5, 5.0, 50.0), (price["products"]!.GetValue<int>(), price["min"]!.GetValue<double>(),
            price["max"]!.GetValue<double>()));
        await http.GetAsync(url + "/facets?tokens=0").Problem(400, "tokens");
        await http.GetAsync("/v1/catalogs/no-such-facets/facets").Problem(404, "does not exist");
    }
}
