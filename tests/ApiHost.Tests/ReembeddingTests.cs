using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Catalogs.Tests;
using Microsoft.AspNetCore.Hosting;

namespace Catalogs.ApiHost.Tests;

/// <summary>An ApiHost whose re-embeddings pause after every batch, so a test can act while one runs.</summary>
public sealed class PacedReembeddingFactory : ApiFactory
{
    protected override void Configure(IWebHostBuilder builder)
    {
        base.Configure(builder);
        builder.UseSetting("Catalogs:ReembeddingBatchPause", "00:00:00.100");
    }
}

/// <summary>A catalog that holds products changes its encoder, index or shards: it re-embeds into a new version while
/// the current one serves and takes writes, switches, rolls back, and refuses what it cannot do.</summary>
public class ReembeddingTests(PacedReembeddingFactory factory) : IClassFixture<PacedReembeddingFactory>
{
    readonly HttpClient http = factory.CreateClient();

    static readonly string[] Photos = Directory.GetDirectories(TestPaths.Image("clothing/images")).Order()
        .SelectMany(d => Directory.GetFiles(d).Order().Take(12)).Take(200).ToArray();

    static object Encoder(float crop) =>
        new { model = "mobilenetv2-12-int8.onnx", output = "464_quantized", cropFraction = crop };

    [Fact]
    public async Task A_new_encoder_re_embeds_every_stored_image_while_writes_go_on_then_switches_and_rolls_back()
    {
        const string url = "/v1/catalogs/reembed-photos";
        await (await http.PutJson(url, new { encoder = Encoder(1f), shards = 2 })).Json(HttpStatusCode.Created);
        var expected = new ConcurrentDictionary<string, string?>(); // id → its photo as last acknowledged; null: gone
        // Enough products for several copy batches per shard, so the requests below meet the copy running.
        await Task.WhenAll(Enumerable.Range(0, 4).Select(async w =>
        {
            for (int i = w; i < 192; i += 4) await PutPhotoAsync(url, $"p{i}", Photos[i], expected);
        }));

        // Two writers on disjoint ids: rewrites with another photo, deletes and new products, all through the move.
        using var stop = new CancellationTokenSource();
        var writers = Enumerable.Range(0, 2).Select(w => Task.Run(async () =>
        {
            for (int k = 0; !stop.IsCancellationRequested; k++)
            {
                int r = (k * 7 + w) % 192 / 2 * 2 + w;
                switch (k % 3)
                {
                    case 0: await PutPhotoAsync(url, $"p{r}", Photos[(r + 17 + k) % Photos.Length], expected); break;
                    case 1:
                        var delete = await http.DeleteAsync($"{url}/products/p{r}");
                        Assert.True(delete.StatusCode is HttpStatusCode.NoContent or HttpStatusCode.NotFound,
                            $"DELETE p{r}: {(int)delete.StatusCode}");
                        expected[$"p{r}"] = null;
                        break;
                    default: await PutPhotoAsync(url, $"n{w}-{k}", Photos[(k + w) % Photos.Length], expected); break;
                }
            }
        })).ToArray();
        await Task.Delay(300);

        var started = await (await http.PutJson(url, new { encoder = Encoder(0.875f), shards = 3 }))
            .Json(HttpStatusCode.OK);
        Assert.Equal(1, started["version"]!.GetValue<long>()); // still serving the first version
        Assert.Equal(1f, started["config"]!["encoder"]!["cropFraction"]!.GetValue<float>());
        var reembedding = started["reembedding"]!;
        Assert.Equal("copying", reembedding["phase"]!.GetValue<string>());
        Assert.True(reembedding["reencodes"]!.GetValue<bool>());
        Assert.Equal(2, reembedding["targetVersion"]!.GetValue<long>());
        // The same request again answers the same; another one waits for the switch.
        await (await http.PutJson(url, new { encoder = Encoder(0.875f), shards = 3 })).Json(HttpStatusCode.OK);
        await http.PutJson(url, new { encoder = Encoder(0.9f), shards = 3 }).Problem(409, "re-embedding");
        await http.PostAsync(url + "/rollback", null).Problem(409, "re-embedding");
        await http.PutJson(url + "/products/vector-only", new { featureVector = Enumerable.Repeat(0.1f, 1280) })
            .Problem(409, "without an image");

        var switched = await WaitForPhaseAsync(url, "switched");
        await stop.CancelAsync();
        await Task.WhenAll(writers);
        Assert.Equal(2, switched["version"]!.GetValue<long>());
        Assert.Equal(0.875f, switched["config"]!["encoder"]!["cropFraction"]!.GetValue<float>());
        Assert.Equal(3, switched["shards"]!.AsArray().Count);
        Assert.Equal(1f, switched["previous"]!["spec"]!["encoder"]!["cropFraction"]!.GetValue<float>());
        var settled = await (await http.GetAsync(url)).Json(HttpStatusCode.OK);
        Assert.Equal(expected.Count(e => e.Value is not null), settled["products"]!.GetValue<long>());
        Assert.True(switched["reembedding"]!["written"]!.GetValue<long>() > 0);
        // Every acknowledged write as last acknowledged, embedded by the new encoder: its own photo finds it at ~0.
        await AssertServesAsync(url, expected);

        // Written after the switch, so to both versions; the rollback serves the old encoder's vectors at once.
        await PutPhotoAsync(url, "after", Photos[^1], expected);
        var rolledBack = await (await http.PostAsync(url + "/rollback", null)).Json(HttpStatusCode.OK);
        Assert.Equal(1f, rolledBack["config"]!["encoder"]!["cropFraction"]!.GetValue<float>());
        Assert.Equal(2, rolledBack["config"]!["shards"]!.GetValue<int>());
        Assert.Equal(0.875f, rolledBack["previous"]!["spec"]!["encoder"]!["cropFraction"]!.GetValue<float>());
        await AssertServesAsync(url, expected);

        var retired = await (await http.DeleteAsync(url + "/previous")).Json(HttpStatusCode.OK);
        Assert.Null(retired["previous"]);
        await http.PostAsync(url + "/rollback", null).Problem(409, "no previous version");
        await http.DeleteAsync(url + "/previous").Problem(409, "no previous version");
        await http.PostAsync(url + "/reembedding:cancel", null).Problem(409, "No re-embedding");
        // One version again: a write with a vector only is fine.
        await (await http.PutJson(url + "/products/vector-only", new { featureVector = Enumerable.Repeat(0.1f, 1280) }))
            .Json(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_cancelled_re_embedding_leaves_the_serving_version_as_it_was_and_products_without_images_refuse()
    {
        const string url = "/v1/catalogs/reembed-vectors";
        await (await http.PutJson(url, new { dimensions = 4, shards = 1 })).Json(HttpStatusCode.Created);
        var random = new Random(7);
        var points = Enumerable.Range(0, 2000).Select(i => new
        {
            id = $"v{i}",
            featureVector = Enumerable.Range(0, 4).Select(_ => (float)random.NextDouble() + 0.1f).ToArray(),
        }).ToArray();
        foreach (var batch in points.Chunk(500))
            await (await http.PostJson(url + "/products:batch", new { datapoints = batch })).Json(HttpStatusCode.OK);

        // No image to run through an encoder: refused, saying how many.
        await http.PutJson(url, new { encoder = Encoder(1f) }).Problem(409, "2000 of the catalog's 2000 products");
        await http.PutJson(url, new { dimensions = 8, shards = 1 }).Problem(409, "dimensions");

        // Another shard count only copies vectors; cancelled midway, it leaves nothing behind.
        var started = await (await http.PutJson(url, new { dimensions = 4, shards = 2 })).Json(HttpStatusCode.OK);
        Assert.False(started["reembedding"]!["reencodes"]!.GetValue<bool>());
        Assert.Equal(2000, started["reembedding"]!["total"]!.GetValue<long>());
        await (await http.DeleteAsync(url + "/products/v0")).Json(HttpStatusCode.NoContent);
        var cancelled = await (await http.PostAsync(url + "/reembedding:cancel", null)).Json(HttpStatusCode.OK);
        Assert.Equal("cancelled", cancelled["reembedding"]!["phase"]!.GetValue<string>());
        Assert.Equal(1, cancelled["config"]!["shards"]!.GetValue<int>());
        Assert.Equal(1999, cancelled["products"]!.GetValue<long>());
        Assert.Null(cancelled["previous"]);
        var found = await (await http.PostJson(url + "/search",
            new { featureVector = points[1].featureVector, neighborCount = 1 })).Json(HttpStatusCode.OK);
        Assert.Equal(["v1"], Api.Ids(found));

        // Run to the end: every product but the deleted one on two shards, found by its own vector.
        await (await http.PutJson(url, new { dimensions = 4, shards = 2 })).Json(HttpStatusCode.OK);
        var switched = await WaitForPhaseAsync(url, "switched");
        Assert.Equal(1999, switched["products"]!.GetValue<long>());
        Assert.All(switched["shards"]!.AsArray(), s => Assert.True(s!["products"]!.GetValue<int>() > 800));
        foreach (var p in points.Skip(1).Take(50))
        {
            var hit = await (await http.PostJson(url + "/search",
                new { featureVector = p.featureVector, neighborCount = 1 })).Json(HttpStatusCode.OK);
            Assert.Equal([p.id], Api.Ids(hit));
        }
        await http.GetAsync(url + "/products/v0").Problem(404, "v0");

        // An image catalog with one product stored by its vector cannot take a new encoder.
        const string mixed = "/v1/catalogs/reembed-mixed";
        await (await http.PutJson(mixed, new { encoder = Encoder(1f) })).Json(HttpStatusCode.Created);
        await PutPhotoAsync(mixed, "photo", Photos[0], new());
        await (await http.PutJson(mixed + "/products/vector", new { featureVector = Enumerable.Repeat(0.1f, 1280) }))
            .Json(HttpStatusCode.OK);
        await http.PutJson(mixed, new { encoder = Encoder(0.875f) }).Problem(409, "1 of the catalog's 2 products");
    }

    [Fact]
    public async Task A_re_embedding_that_cannot_read_a_stored_image_fails_and_leaves_the_catalog_serving()
    {
        const string url = "/v1/catalogs/reembed-damaged";
        await (await http.PutJson(url, new { encoder = Encoder(1f) })).Json(HttpStatusCode.Created);
        var expected = new ConcurrentDictionary<string, string?>();
        for (int i = 0; i < 3; i++) await PutPhotoAsync(url, $"d{i}", Photos[194 + i], expected);
        // The stored original of d1 lost on disk (content-addressed: the file is named by its SHA-256).
        var hash = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Photos[195])));
        var blob = Directory.GetFiles(factory.DataPath, hash, SearchOption.AllDirectories)
            .Single(f => f.Contains("/reembed-damaged/", StringComparison.Ordinal)); // shards are tenant/catalog/…
        File.Delete(blob);

        await (await http.PutJson(url, new { encoder = Encoder(0.875f) })).Json(HttpStatusCode.OK);
        JsonNode info;
        for (var deadline = DateTime.UtcNow.AddMinutes(2); ; await Task.Delay(100))
        {
            info = await (await http.GetAsync(url)).Json(HttpStatusCode.OK);
            if (info["reembedding"]!["phase"]!.GetValue<string>() != "copying") break;
            Assert.True(DateTime.UtcNow < deadline, "the re-embedding did not end");
        }
        Assert.Equal("failed", info["reembedding"]!["phase"]!.GetValue<string>());
        Assert.Contains("Product 'd1'", info["reembedding"]!["error"]!.GetValue<string>());
        Assert.Equal(1f, info["config"]!["encoder"]!["cropFraction"]!.GetValue<float>());
        Assert.Null(info["previous"]);
        Assert.Equal(3, info["products"]!.GetValue<long>());
        var found = await (await http.PostAsync(url + "/search", Api.Multipart(File.ReadAllBytes(Photos[194]),
            "{\"neighborCount\":1}", "query"))).Json(HttpStatusCode.OK);
        Assert.Equal(["d0"], Api.Ids(found));
    }

    async Task PutPhotoAsync(string url, string id, string photo, ConcurrentDictionary<string, string?> expected)
    {
        var put = await http.PutAsync($"{url}/products/{id}", Api.Multipart(File.ReadAllBytes(photo), "{}"));
        Assert.True(put.StatusCode == HttpStatusCode.OK,
            $"PUT {id}: {(int)put.StatusCode} {await put.Content.ReadAsStringAsync()}");
        expected[id] = photo;
    }

    async Task<JsonNode> WaitForPhaseAsync(string url, string phase)
    {
        for (var deadline = DateTime.UtcNow.AddMinutes(3); ; await Task.Delay(100))
        {
            var info = await (await http.GetAsync(url)).Json(HttpStatusCode.OK);
            var now = info["reembedding"]?["phase"]?.GetValue<string>();
            if (now == phase) return info;
            Assert.True(now == "copying", $"re-embedding {now}: {info["reembedding"]?["error"]}");
            Assert.True(DateTime.UtcNow < deadline, "the re-embedding did not finish in 3 minutes");
        }
    }

    /// <summary>Every product as last acknowledged (its image's hash), and found by its own photo at distance ~0 with
    /// the serving encoder; every deleted one gone.</summary>
    async Task AssertServesAsync(string url, ConcurrentDictionary<string, string?> expected)
    {
        foreach (var (id, photo) in expected)
        {
            if (photo is null)
            {
                await http.GetAsync($"{url}/products/{id}").Problem(404, id);
                continue;
            }
            var stored = await (await http.GetAsync($"{url}/products/{id}")).Json(HttpStatusCode.OK);
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(photo))),
                stored["imageSha256"]!.GetValue<string>());
            var hits = await (await http.PostAsync(url + "/search", Api.Multipart(File.ReadAllBytes(photo),
                "{\"neighborCount\":8}", "query"))).Json(HttpStatusCode.OK);
            var exact = hits["neighbors"]!.AsArray().Where(n => n!["distance"]!.GetValue<float>() < 1e-3f)
                .Select(n => n!["id"]!.GetValue<string>()).ToArray();
            Assert.Contains(id, exact);
        }
    }
}
