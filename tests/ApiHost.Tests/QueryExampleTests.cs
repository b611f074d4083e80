using System.Net;
using System.Text.Json.Nodes;
using Catalogs.Tests;

namespace Catalogs.ApiHost.Tests;

/// <summary>Searches with several examples (averageVector, bestScore), a direction between two groups of products,
/// and a box of the query image, over the real model; and their bad input.</summary>
[Collection(ApiCollection.Name)]
public class QueryExampleTests(ApiFactory factory) : IAsyncLifetime
{
    readonly HttpClient http = factory.CreateClient();
    const string Url = "/v1/catalogs/examples";
    static readonly string[] Labels = ["Dress", "Shoes", "Hat", "Pants"];

    static string Photo(string label, int n) => Directory.GetFiles(TestPaths.Image("clothing/images/" + label))
        .Order().ElementAt(n);

    public async Task InitializeAsync()
    {
        var r = await http.PutJson(Url, new
        {
            encoder = new
            {
                model = "mobilenetv2-12-int8.onnx",
                output = "464_quantized"
            }
        });
        if (r.StatusCode == HttpStatusCode.OK) return; // another test of this class made it
        await r.Json(HttpStatusCode.Created);
        foreach (var label in Labels)
            for (int n = 0; n < 5; n++)
                await (await http.PutAsync($"{Url}/products/{label[0]}{n}", Api.Multipart(
                    File.ReadAllBytes(Photo(label, n)), "{}"))).Json(HttpStatusCode.OK);
    }

    public Task DisposeAsync() => Task.CompletedTask;

    async Task<JsonNode> SearchAsync(object body) =>
        await (await http.PostJson(Url + "/search", body)).Json(HttpStatusCode.OK);

    async Task<float[]> VectorOf(string id) => (await (await http.GetAsync($"{Url}/products/{id}"))
        .Json(HttpStatusCode.OK))["featureVector"]!.AsArray().Select(x => x!.GetValue<float>()).ToArray();

    static float[] Unit(float[] v)
    {
        var norm = MathF.Sqrt(v.Sum(x => x * x));
        return v.Select(x => x / norm).ToArray();
    }

    static float Cosine(float[] a, float[] b) => 1 - Unit(a).Zip(Unit(b), (x, y) => x * y).Sum();

    [Fact]
    public async Task Average_vector_and_a_direction_search_where_their_arithmetic_says()
    {
        // One positive product is a "more like this" search; examples never come back.
        var alone = await SearchAsync(new { productId = "D0", neighborCount = 6 });
        var one = await SearchAsync(new { positive = new[] { new { productId = "D0" } }, neighborCount = 6 });
        Assert.Equal(Api.Ids(alone), Api.Ids(one));
        var two = await SearchAsync(new
        {
            positive = new[] { new { productId = "D0" }, new { productId = "D1" } },
            neighborCount = 18
        });
        Assert.DoesNotContain("D0", Api.Ids(two));
        Assert.DoesNotContain("D1", Api.Ids(two));

        // Weighted positives minus negatives, and a direction, equal the vector computed here.
        var (d0, d1, s0, h0, h1) = (Unit(await VectorOf("D0")), Unit(await VectorOf("D1")),
            Unit(await VectorOf("S0")), Unit(await VectorOf("H0")), Unit(await VectorOf("H1")));
        var target = Enumerable.Range(0, d0.Length).Select(i =>
            (2 * d0[i] + d1[i]) / 3 - 0.5f * s0[i] / 3 + 0.8f * ((h0[i] + h1[i]) / 2 - d1[i])).ToArray();
        var arithmetic = await SearchAsync(new
        {
            positive = new object[] { new { productId = "D0", weight = 2 }, new { featureVector = d1 } },
            negative = new[] { new { productId = "S0" } },
            direction = new { from = new[] { "D1" }, to = new[] { "H0", "H1" }, weight = 0.8 },
            neighborCount = 10,
        });
        var byHand = await SearchAsync(new { featureVector = target, neighborCount = 16 });
        var expected = Api.Ids(byHand).Where(id => id is not ("D0" or "S0" or "D1" or "H0" or "H1")).Take(10);
        Assert.Equal(expected, Api.Ids(arithmetic));
    }

    [Fact]
    public async Task Expansion_adds_the_two_best_matches_weighted_by_their_cosine_cubed()
    {
        var first = await (await http.PostJson(Url + "/search", new
        {
            productId = "D0",
            neighborCount = 2,
            returnFeatureVector = true
        })).Json(HttpStatusCode.OK);
        var q = Unit(await VectorOf("D0"));
        var expanded = q.ToArray();
        foreach (var n in first["neighbors"]!.AsArray())
        {
            var v = Unit(n!["datapoint"]!["featureVector"]!.AsArray().Select(x => x!.GetValue<float>()).ToArray());
            float w = MathF.Pow(Math.Max(q.Zip(v, (a, b) => a * b).Sum(), 0), 3);
            for (int i = 0; i < expanded.Length; i++) expanded[i] += w * v[i];
        }
        var byHand = await SearchAsync(new { featureVector = expanded, neighborCount = 7 });
        var result = await SearchAsync(new { productId = "D0", neighborCount = 6, expand = true });
        Assert.Equal(Api.Ids(byHand).Where(id => id != "D0").Take(6), Api.Ids(result));
        await http.PostJson(Url + "/search", new { text = "dress", expand = true }).Problem(422, "expand needs");
    }

    [Fact]
    public async Task Best_score_ranks_by_the_closest_positive_and_puts_what_a_negative_attracts_last()
    {
        var result = await SearchAsync(new
        {
            positive = new[] { new { productId = "D0" }, new { productId = "S0" } },
            negative = new[] { new { productId = "H0" } },
            strategy = "bestScore",
            neighborCount = 17,
            returnFeatureVector = true,
        });
        var (d0, s0, h0) = (await VectorOf("D0"), await VectorOf("S0"), await VectorOf("H0"));
        var hits = result["neighbors"]!.AsArray().Select(n => (Id: n!["id"]!.GetValue<string>(),
            Distance: n["distance"]!.GetValue<float>(),
            Vector: n["datapoint"]!["featureVector"]!.AsArray().Select(x => x!.GetValue<float>()).ToArray()))
            .ToArray();
        Assert.Equal(17, hits.Length); // every product but the three examples
        Assert.DoesNotContain(hits, h => h.Id is "D0" or "S0" or "H0");
        bool seenRepelled = false;
        float last = float.NegativeInfinity;
        foreach (var h in hits)
        {
            float toPositive = Math.Min(Cosine(h.Vector, d0), Cosine(h.Vector, s0));
            Assert.Equal(toPositive, h.Distance, 3);
            bool repelled = Cosine(h.Vector, h0) < toPositive;
            Assert.False(seenRepelled && !repelled, $"{h.Id} is closer to a positive but ranks after a repelled one");
            if (!repelled) Assert.True(h.Distance >= last - 1e-4f, $"{h.Id} out of order");
            if (!repelled) last = h.Distance;
            seenRepelled |= repelled;
        }
        Assert.True(seenRepelled, "no product was closer to the hat than to the dress and the shoe");
    }

    [Fact]
    public async Task A_box_of_the_photo_searches_by_what_is_inside_it()
    {
        var photo = File.ReadAllBytes(Photo("Shoes", 2));
        async Task<JsonNode> ByRegion(object? region) => await (await http.PostAsync(Url + "/search",
            Api.Multipart(photo, System.Text.Json.JsonSerializer.Serialize(new { neighborCount = 3, region },
            Api.Web), "query"))).Json(HttpStatusCode.OK);
        var whole = await ByRegion(new { x = 0, y = 0, width = 1, height = 1 });
        Assert.Equal("S2", Api.Ids(whole)[0]);
        Assert.InRange(whole["neighbors"]![0]!["distance"]!.GetValue<float>(), -1e-4f, 0.05f);
        var corner = await ByRegion(new { x = 0, y = 0, width = 0.4, height = 0.4 });
        var s2 = corner["neighbors"]!.AsArray().FirstOrDefault(n => n!["id"]!.GetValue<string>() == "S2");
        Assert.True(s2 is null || s2["distance"]!.GetValue<float>() > 0.05f, "a corner embeds like the whole photo");

        await http.PostAsync(Url + "/search", Api.Multipart(photo, "{\"region\":{\"x\":0.7,\"y\":0,\"width\":0.5," +
            "\"height\":0.5}}", "query")).Problem(422, "outside the image");
        await http.PostAsync(Url + "/search", Api.Multipart(photo, "{\"region\":{\"x\":0,\"y\":0,\"width\":0.5}}",
            "query")).Problem(400, "height");
        await http.PostJson(Url + "/search", new
        {
            productId = "S2",
            region = new
            {
                x = 0,
                y = 0,
                width = 1,
                height = 1
            }
        }).Problem(422, "search by image");
    }

    [Fact]
    public async Task Bad_examples_are_refused_before_anything_is_searched()
    {
        var v = Enumerable.Repeat(0.1f, 1280).ToArray();
        await http.PostJson(Url + "/search", new { positive = Array.Empty<object>() }).Problem(422, "at least one");
        await http.PostJson(Url + "/search", new { positive = new[] { new { productId = "D0", featureVector = v } } })
            .Problem(400, "positive[0]: set exactly one");
        await http.PostJson(Url + "/search", new { positive = new[] { new { productId = "D0", weight = 0 } } })
            .Problem(422, "positive[0].weight");
        await http.PostJson(Url + "/search", new
        {
            productId = "D0",
            negative = new[] { new { productId = "S0",
            weight = 11 } }
        }).Problem(422, "negative[0].weight");
        await http.PostJson(Url + "/search", new
        {
            positive = Enumerable.Range(0, 17).Select(i =>
            new { productId = "D0" })
        }).Problem(400, "at most 16");
        await http.PostJson(Url + "/search", new { productId = "D0", strategy = "bestScore" })
            .Problem(422, "applies to positive and negative");
        await http.PostJson(Url + "/search", new { productId = "D0", strategy = "nearest" }).Problem(400, "strategy");
        await http.PostJson(Url + "/search", new
        {
            productId = "D0",
            direction = new
            {
                from = Array.Empty<string>(),
                to = new[] { "H0" }
            }
        }).Problem(422, "direction.from");
        await http.PostJson(Url + "/search", new
        {
            productId = "D0",
            direction = new
            {
                from = new[] { "S0" },
                to = new[] { "H0" },
                weight = 5
            }
        }).Problem(422, "direction.weight");
        await http.PostJson(Url + "/search", new { productId = "D0", positive = new[] { new { productId = "D1" } } })
            .Problem(400, "exactly one");
        await http.PostJson(Url + "/search", new { positive = new[] { new { productId = "nope" } } })
            .Problem(404, "positive[0]: Product 'nope'");
        await http.PostJson(Url + "/search", new
        {
            positive = new[] { new { featureVector = v } },
            negative = new[] { new { featureVector = v, weight = 1 } }
        }).Problem(422, "cancel each other out");
        await http.PostJson(Url + "/search", new { positive = new[] { new { featureVector = new[] { 1f, 2f } } } })
            .Problem(422, "positive[0] has 2 dimensions");
    }
}
