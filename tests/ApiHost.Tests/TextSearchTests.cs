using System.Net;
using Catalogs.Text;

namespace Catalogs.ApiHost.Tests;

/// <summary>Product text (attributes title, name, description) ranked by BM25 with a real analyzer, alone or fused
/// with the vector ranking by reciprocal rank fusion; filters, crowding, changes and bad input.</summary>
[Collection(ApiCollection.Name)]
public class TextSearchTests(ApiFactory factory)
{
    readonly HttpClient http = factory.CreateClient();
    const string Url = "/v1/catalogs/texts";

    static readonly (string Id, string Title, string Description, string Aisle, float[] V)[] Products =
    [
        ("granny", "Granny Smith", "Green apples, crisp and tart", "fruit", [1, 0, 0, 0]),
        ("golden", "Golden Delicious", "A yellow apple, sweet and mild", "fruit", [0.9f, 0.1f, 0, 0]),
        ("lime", "Lime", "Small green citrus, sour", "fruit", [0, 1, 0, 0]),
        ("oat", "Oat milk", "Organic oat drink, no apples in it", "dairy", [0, 0, 1, 0]),
        ("cider", "Apple cider", "Sparkling apple drink made from apples", "drinks", [0, 0, 0, 1]),
    ];

    async Task SeedAsync()
    {
        var r = await http.PutJson(Url, new { dimensions = 4 });
        if (r.StatusCode == HttpStatusCode.OK) return;
        await r.Json(HttpStatusCode.Created);
        foreach (var p in Products)
            await (await http.PutJson($"{Url}/products/{p.Id}", new
            {
                featureVector = p.V,
                restricts = new[] { new { @namespace = "aisle", allowList = new[] { p.Aisle } } },
                crowdingTag = new { crowdingAttribute = p.Aisle },
                attributes = new { title = p.Title, description = p.Description, price = 1.5 },
            })).Json(HttpStatusCode.OK);
    }

    async Task<string[]> Search(object body) => Api.Ids(await (await http.PostJson(Url + "/search", body))
        .Json(HttpStatusCode.OK));

    [Fact]
    public async Task Text_alone_ranks_by_bm25_with_stemming_filters_and_crowding()
    {
        await SeedAsync();
        // "apples" meets "apple"; the cider says it three times in a short text, the oat drink once.
        var apples = await Search(new { text = "apples", neighborCount = 10 });
        Assert.Equal("cider", apples[0]);
        Assert.Equal(["cider", "golden", "granny", "oat"], apples.Order());
        Assert.DoesNotContain("lime", apples);
        Assert.Equal(["granny", "lime"], (await Search(new { text = "green" })).Order());
        Assert.Equal(["cider"], await Search(new
        {
            text = "apples",
            restricts = new[] {
            new { @namespace = "aisle", allowList = new[] { "drinks" } } }
        }));
        var crowded = await Search(new { text = "apple", perCrowdingAttributeNeighborCount = 1 });
        Assert.Equal(crowded.Length, crowded.Select(id => Products.Single(p => p.Id == id).Aisle).Distinct().Count());

        // A product's text changes with it, and goes with it.
        await (await http.PutJson($"{Url}/products/extra", new
        {
            featureVector = new[] { 0.5f, 0.5f, 0, 0 },
            attributes = new { name = "Kiwi", description = "Fuzzy brown skin, bright green inside" }
        }))
            .Json(HttpStatusCode.OK);
        Assert.Contains("extra", await Search(new { text = "kiwis" }));
        await (await http.DeleteAsync($"{Url}/products/extra")).Json(HttpStatusCode.NoContent);
        Assert.Empty(await Search(new { text = "kiwis" }));

        // The product's sparse embedding, in Vertex AI's shape, comes with its vector.
        var hits = await (await http.PostJson(Url + "/search", new { text = "cider", returnFeatureVector = true }))
            .Json(HttpStatusCode.OK);
        var sparse = hits["neighbors"]![0]!["datapoint"]!["sparseEmbedding"]!;
        Assert.Equal(sparse["dimensions"]!.AsArray().Count, sparse["values"]!.AsArray().Count);
        Assert.Contains(SparseEmbedding.TermId("cider"), sparse["dimensions"]!.AsArray().Select(d =>
            d!.GetValue<long>()));
    }

    [Fact]
    public async Task Text_and_a_vector_fuse_by_reciprocal_rank_with_alpha()
    {
        await SeedAsync();
        float[] q = [0.95f, 0.05f, 0, 0.3f];
        var dense = await Search(new { featureVector = q, neighborCount = 5 });
        var sparse = await Search(new { text = "apple drink", neighborCount = 5 });
        Assert.Equal(dense, await Search(new
        {
            featureVector = q,
            text = "apple drink",
            neighborCount = 5,
            rrf = new { alpha = 1.0 }
        }));
        var fused = await Search(new
        {
            featureVector = q,
            text = "apple drink",
            neighborCount = 5,
            rrf = new { alpha = 0.3 }
        });
        Assert.Equal(RankFusion.Fuse(dense, sparse, 0.3).Take(5).Select(f => f.Id), fused);
        Assert.Equal(sparse, (await Search(new
        {
            featureVector = q,
            text = "apple drink",
            neighborCount = 5,
            rrf = new { alpha = 0.0 }
        })).Take(sparse.Length));
        var withProduct = await Search(new { productId = "granny", text = "apple", neighborCount = 5 });
        Assert.DoesNotContain("granny", withProduct);
    }

    [Fact]
    public async Task Bad_text_queries_are_refused()
    {
        await SeedAsync();
        float[] q = [1, 0, 0, 0];
        await http.PostJson(Url + "/search", new { featureVector = q, rrf = new { alpha = 0.5 } })
            .Problem(422, "needs text");
        await http.PostJson(Url + "/search", new { text = "apple", rrf = new { alpha = 2 } })
            .Problem(422, "rrf.alpha");
        await http.PostJson(Url + "/search", new { text = "  " }).Problem(422, "text is empty");
        await http.PostJson(Url + "/search", new { text = new string('a', 1025) }).Problem(400, "at most 1024");
        await http.PostJson(Url + "/search", new { text = "apple", routing = "hybrid" })
            .Problem(422, "does not take text");
        await http.PostJson(Url + "/search", new { text = "apple", routing = "matchingEngine" })
            .Problem(422, "matchingEngine binding");
        await http.PostJson(Url + "/search", new { neighborCount = 3 }).Problem(400, "text alone");
    }
}
