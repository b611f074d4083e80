using System.Net;
using System.Text;

namespace Catalogs.ApiHost.Tests;

/// <summary>Every kind of bad input gets a clear 4xx problem+json, and a refused request changes nothing.</summary>
[Collection(ApiCollection.Name)]
public class BadInputTests(ApiFactory factory)
{
    readonly HttpClient http = factory.CreateClient();
    const string Url = "/v1/catalogs/bad-input";

    async Task<long> Products()
    {
        var info = await (await http.GetAsync(Url)).Json(HttpStatusCode.OK);
        return info["products"]!.GetValue<long>();
    }

    async Task EnsureCatalog()
    {
        var r = await http.PutJson(Url, new { dimensions = 3, metric = "cosine", shards = 2 });
        Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync());
        await (await http.PutJson(Url + "/products/keep",
            new { featureVector = new[] { 1f, 0, 0 } })).Json(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Catalog_and_product_addressing_errors()
    {
        await http.PutJson("/v1/catalogs/Bad_Name", new { dimensions = 3 }).Problem(400, "[a-z0-9-]".Length > 0
            ? "lowercase" : "");
        await http.PutJson("/v1/catalogs/" + new string('a', 64), new { dimensions = 3 }).Problem(400, "1–63");
        await http.GetAsync("/v1/catalogs/no-such-catalog").Problem(404, "does not exist");
        await http.PutJson("/v1/catalogs/no-such-catalog/products/x", new { featureVector = new[] { 1f } }).Problem(404,
            "does not exist");
        await EnsureCatalog();
        await http.GetAsync(Url + "/products/missing").Problem(404, "missing");
    }

    [Fact]
    public async Task Configuration_errors()
    {
        await http.PutJson("/v1/catalogs/bad-config", new { }).Problem(422, "encoder, or dimensions");
        await http.PutJson("/v1/catalogs/bad-config", new { dimensions = 3, metric = "hamming" })
            .Problem(400, "metric 'hamming' is not one of cosine, dot, squaredL2, l1");
        await http.PutJson("/v1/catalogs/bad-config", new { dimensions = 3, shards = 0 }).Problem(422, "shards");
        await http.PutJson("/v1/catalogs/bad-config", new { dimensions = 3, replicas = 0 }).Problem(422,
            "replicas must be between 1");
        await http.PutJson("/v1/catalogs/bad-config", new { dimensions = 3, replicas = 9 }).Problem(422,
            "replicas must be between 1");
        await http.PutJson("/v1/catalogs/bad-config", new { dimensions = 3, replicas = "two" }).Problem(400,
            "replicas");
        await http.PutJson("/v1/catalogs/bad-config", new { encoder = new { model = "../../etc/passwd" } }).Problem(422,
            "not a model file name");
        await http.PutJson("/v1/catalogs/bad-config", new { encoder = new { model = "nope.onnx" } }).Problem(422,
            "not available");
        await http.PutJson("/v1/catalogs/bad-config",
            new { encoder = new { model = "mobilenetv2-12-int8.onnx", output = "no_such_tensor" } }).Problem(422,
            "no tensor");
        await http.PutJson("/v1/catalogs/bad-config",
            new { encoder = new { model = "mobilenetv2-12-int8.onnx", output = "464_quantized" }, dimensions = 7 })
            .Problem(422, "1280");
        await http.PutRaw("/v1/catalogs/bad-config", "{\"dimensions\": ").Problem(400, "not valid JSON");
        await http.PutJson("/v1/catalogs/bad-config", new { dimensions = 3, index = new { kind = "ivf" } })
            .Problem(400, "index.kind 'ivf' is not one of hnsw, exact");
        await http.PutJson("/v1/catalogs/bad-config", new { dimensions = 3, index = new { m = 2 } }).Problem(422,
            "index.m");
        await http.PutJson("/v1/catalogs/bad-config", new { dimensions = 3, index = new { quantization = "int4" } })
            .Problem(400, "index.quantization 'int4' is not one of none, int8");
        await http.PutJson("/v1/catalogs/bad-config", new { dimensions = 3, metric = 2 }).Problem(400,
            "metric must be one of");
        await http.PutJson("/v1/catalogs/bad-config",
            new { encoder = new { model = "mobilenetv2-12-int8.onnx", resize = "crop" } })
            .Problem(400, "encoder.resize 'crop' is not one of shorterSideCenterCrop, stretch");
        await http.PutJson("/v1/catalogs/bad-config",
            new { encoder = new { model = "mobilenetv2-12-int8.onnx", cropFraction = 0.3 } })
            .Problem(422, "encoder.cropFraction must be between 0.5 and 1");
        await http.PutJson("/v1/catalogs/bad-config",
            new { encoder = new { model = "mobilenetv2-12-int8.onnx", cropFraction = 0.875, resize = "stretch" } })
            .Problem(422, "not stretch");
        await http.PutJson("/v1/catalogs/bad-config",
            new { dimensions = 3, metric = "l1", index = new { quantization = "int8" } }).Problem(422, "not l1");
        await http.PutJson("/v1/catalogs/bad-config",
            new { dimensions = 3, index = new { kind = "exact", quantization = "int8" } }).Problem(422,
            "needs index.kind hnsw");
        await http.PutJson("/v1/catalogs/bad-config",
            new { dimensions = 3, matchingEngine = new { index = "indexes/1" } }).Problem(400, "matchingEngine.index");
        await http.PutJson("/v1/catalogs/bad-config", new { dimensions = 3, index = new { rerankVectors = "disk" } })
            .Problem(400, "index.rerankVectors 'disk' is not one of memory, mapped");
        await http.PutJson("/v1/catalogs/bad-config", new { dimensions = 3, index = new { rerankVectors = "mapped" } })
            .Problem(422, "rerankVectors mapped needs index.quantization int8");
        await http.GetAsync("/v1/catalogs/bad-config").Problem(404, "does not exist");
    }

    [Fact]
    public async Task Vector_and_query_errors_change_nothing()
    {
        await EnsureCatalog();
        long before = await Products();
        // Exports: the target is required and must be gs://; the catalog must be bound to Matching Engine.
        await http.PostJson(Url + "/matchingEngine:export", new { }).Problem(400, "gcsUri");
        await http.PostJson(Url + "/matchingEngine:export", new { gcsUri = "gs://bucket/x" }).Problem(400,
            "no matchingEngine binding");
        await http.PostJson("/v1/catalogs/no-such-catalog/matchingEngine:export",
            new { gcsUri = "gs://bucket/x" }).Problem(404, "does not exist");
        await http.GetAsync("/v1/catalogs/no-such-catalog/sync/dead-letters").Problem(404, "does not exist");
        await http.PutJson(Url + "/products/x", new { featureVector = new[] { 1f, 2f } }).Problem(422, "dimensions");
        await http.PutRaw(Url + "/products/x", "{\"featureVector\": [1, \"NaN\", 2]}").Problem(400, "featureVector");
        await http.PutRaw(Url + "/products/x", "{\"featureVector\": [1, 1e39, 2]}").Problem(400, "featureVector");
        await http.PutJson(Url + "/products/x",
            new { featureVector = new[] { 1f, 2f, 3f }, imageUrl = "http://127.0.0.1/x.jpg" }).Problem(400,
            "exactly one");
        var twoValues = new[] { new { @namespace = "p", valueInt = 1, valueDouble = 2.0 } };
        await http.PutJson(Url + "/products/x",
                new { featureVector = new[] { 1f, 2f, 3f }, numericRestricts = twoValues })
            .Problem(400, "exactly one");
        await http.PutJson(Url + "/products/x",
            new { featureVector = new[] { 1f, 2f, 3f }, restricts = new[] { new { allowList = new[] { "a" } } } })
            .Problem(400, "namespace");
        await http.PutAsync(Url + "/products/x", new StringContent("hello", Encoding.UTF8, "text/plain")).Problem(415,
            "multipart/form-data");

        await http.PostJson(Url + "/search", new { featureVector = new[] { 1f, 0, 0 }, neighborCount = 0 }).Problem(400,
            "neighborCount");
        await http.PostJson(Url + "/search",
            new { featureVector = new[] { 1f, 0, 0 }, neighborCount = 1001 }).Problem(400, "neighborCount");
        var between = new[] { new { @namespace = "p", valueInt = 1, op = "BETWEEN" } };
        await http.PostJson(Url + "/search", new { featureVector = new[] { 1f, 0, 0 }, numericRestricts = between })
            .Problem(400, "op");
        var noOp = new[] { new { @namespace = "p", valueInt = 1 } };
        await http.PostJson(Url + "/search", new { featureVector = new[] { 1f, 0, 0 }, numericRestricts = noOp })
            .Problem(400, "op is required");
        await http.PostJson(Url + "/search",
            new { featureVector = new[] { 1f, 0, 0 }, perCrowdingAttributeNeighborCount = 0 }).Problem(400,
            "perCrowding");
        await http.PostJson(Url + "/search", new { neighborCount = 3 }).Problem(400, "exactly one");
        await http.PostJson(Url + "/search",
            new { featureVector = new[] { 1f, 0, 0 }, neighborCount = 10, ef = 5 }).Problem(400, "ef must be");
        await http.PostJson(Url + "/search",
            new { featureVector = new[] { 1f, 0, 0 }, neighborCount = 10, approximateNeighborCount = 5 }).Problem(400,
            "approximateNeighborCount");
        await http.PostJson(Url + "/search",
            new { featureVector = new[] { 1f, 0, 0 }, fractionLeafNodesToSearchOverride = 1.5 }).Problem(400,
            "fractionLeafNodesToSearchOverride");
        await http.PostJson(Url + "/search", new { featureVector = new[] { 1f, 0 } }).Problem(422, "dimensions");
        Assert.Equal(before, await Products());
    }

    [Fact]
    public async Task A_batch_is_all_or_nothing()
    {
        await EnsureCatalog();
        long before = await Products();
        var good = new { id = "b1", featureVector = new[] { 0f, 1f, 0f } };
        await http.PostJson(Url + "/products:batch",
            new { datapoints = new object[] { good, new { id = "b1", featureVector = new[] { 1f, 1f, 0f } } } })
            .Problem(400, "more than once");
        await http.PostJson(Url + "/products:batch",
            new { datapoints = new object[] { good, new { id = "b2", featureVector = new[] { 1f } } } }).Problem(422,
            "dimensions");
        await http.PostJson(Url + "/products:batch",
            new { datapoints = new object[] { good, new { id = "b3" } } }).Problem(400, "datapoints[1]");
        await http.PostJson(Url + "/products:batch", new { datapoints = Array.Empty<object>() }).Problem(400,
            "1 to 1000");
        await http.PostJson(Url + "/products:batch",
            new { datapoints = new object[] { good, new { id = "b4", imageUrl = "ftp://127.0.0.1/x" } } }).Problem(400,
            "http");
        Assert.Equal(before, await Products());
        await http.GetAsync(Url + "/products/b1").Problem(404, "b1");
    }

    [Fact]
    public async Task Oversized_bodies_get_413()
    {
        await EnsureCatalog();
        var huge = new byte[21 * 1024 * 1024];
        await http.PostAsync(Url + "/search", Api.Multipart(huge)).Problem(413, "limit");
    }
}
