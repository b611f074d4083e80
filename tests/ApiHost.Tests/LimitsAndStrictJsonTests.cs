using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Catalogs.VertexAI;

namespace Catalogs.ApiHost.Tests;

/// <summary>Everything stored or sent is bounded, JSON is read strictly, and a refusal changes nothing.</summary>
[Collection(ApiCollection.Name)]
public class LimitsAndStrictJsonTests(ApiFactory factory)
{
    readonly HttpClient http = factory.CreateClient();
    const string Url = "/v1/catalogs/limits";

    async Task<JsonNode> EnsureCatalog()
    {
        var r = await http.PutJson(Url, new { dimensions = 3, shards = 2 });
        Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync());
        await (await http.PutJson(Url + "/products/keep",
            new { featureVector = new[] { 1f, 0, 0 }, crowdingTag = new { crowdingAttribute = "k" } }))
            .Json(HttpStatusCode.OK);
        return await State();
    }

    /// <summary>What must not change: the config, the product count and the known product.</summary>
    async Task<JsonNode> State()
    {
        var info = await (await http.GetAsync(Url)).Json(HttpStatusCode.OK);
        var keep = await (await http.GetAsync(Url + "/products/keep")).Json(HttpStatusCode.OK);
        return new JsonObject
        {
            ["config"] = info["config"]!.DeepClone(),
            ["products"] = info["products"]!.DeepClone(),
            ["keep"] = keep.DeepClone(),
        };
    }

    static object Point(object? restricts = null, object? crowdingTag = null, object? attributes = null,
        object? numeric = null) =>
        new { featureVector = new[] { 0f, 1f, 0f }, restricts, crowdingTag, attributes, numericRestricts = numeric };

    [Fact]
    public async Task Oversized_fields_are_refused_naming_the_limit()
    {
        var before = await EnsureCatalog();
        var megabyte = new string('x', 1 << 20);
        await http.PutJson(Url + "/products/x",
            Point(restricts: new[] { new { @namespace = "c", allowList = new[] { megabyte } } }))
            .Problem(400, "Api:Limits:MaxTokenBytes");
        await http.PutJson(Url + "/products/x",
            Point(crowdingTag: new { crowdingAttribute = new string('c', 5 << 20) }))
            .Problem(400, "Api:Limits:MaxCrowdingTagBytes");
        var tokens = Enumerable.Range(0, 101).Select(i => $"t{i}").ToArray();
        var manyTokens = new[] { new { @namespace = "c", allowList = tokens } };
        await http.PutJson(Url + "/products/x", Point(restricts: manyTokens))
            .Problem(400, "Api:Limits:MaxTokensPerRestrict");
        await http.PutJson(Url + "/products/x", Point(restricts: Enumerable.Range(0, 33).Select(i =>
            new { @namespace = $"n{i}", allowList = new[] { "a" } }).ToArray()))
            .Problem(400, "Api:Limits:MaxRestrictsPerDatapoint");
        await http.PutJson(Url + "/products/x", Point(numeric: Enumerable.Range(0, 33).Select(i =>
            new { @namespace = $"n{i}", valueInt = i }).ToArray()))
            .Problem(400, "Api:Limits:MaxRestrictsPerDatapoint");
        await http.PutJson(Url + "/products/x",
            Point(restricts: new[] { new { @namespace = new string('n', 129), allowList = new[] { "a" } } }))
            .Problem(400, "Api:Limits:MaxNamespaceBytes");
        await http.PutJson(Url + "/products/x", Point(attributes: new { blob = new string('a', 17_000) }))
            .Problem(400, "Api:Limits:MaxAttributesBytes");
        await http.PutJson(Url + "/products/x", new { featureVector = new[] { 3.4e38f, 3.4e38f, 3.4e38f } })
            .Problem(400, "Api:Limits:MaxVectorComponent");
        var manyNamespaces = Enumerable.Range(0, 65)
            .Select(i => new { @namespace = $"n{i}", allowList = new[] { "a" } }).ToArray();
        await http.PostJson(Url + "/search", new { featureVector = new[] { 1f, 0, 0 }, restricts = manyNamespaces })
            .Problem(400, "Api:Limits:MaxRestrictsPerQuery");
        var thousandTokens = Enumerable.Range(0, 1000).Select(i => $"t{i}").ToArray();
        await http.PostJson(Url + "/search",
            new
            {
                featureVector = new[] { 1f, 0, 0 },
                restricts = new[] { new { @namespace = "c", allowList = thousandTokens } },
            })
            .Problem(400, "Api:Limits:MaxTokensPerRestrict");
        await http.PostJson(Url + "/search", new { featureVector = new[] { 1e7f, 0, 0 } }).Problem(400,
            "MaxVectorComponent");
        Assert.Equal(before.ToJsonString(), (await State()).ToJsonString());
    }

    [Fact]
    public async Task Unknown_members_and_numbers_as_strings_are_refused()
    {
        var before = await EnsureCatalog();
        await http.PutRaw(Url, "{\"dimensions\": 3, \"shardz\": 5}").Problem(400, "unknown member 'shardz'");
        await http.PutRaw("/v1/catalogs/limits-new", "{\"dimensions\": 3, \"shardz\": 5}").Problem(400, "shardz");
        await http.GetAsync("/v1/catalogs/limits-new").Problem(404, "does not exist");
        await http.PutRaw(Url, "{\"dimensions\": 3, \"index\": {\"efSerch\": 10}}").Problem(400, "efSerch");
        await http.PutRaw(Url, "{\"dimensions\": \"3\"}").Problem(400, "$.dimensions");
        await http.PutRaw(Url + "/products/x", "{\"featureVector\": [0, 1, 0], \"colour\": \"red\"}").Problem(400,
            "colour");
        await http.PutRaw(Url + "/products/x", "{\"featureVector\": [0, \"1\", 0]}").Problem(400, "$.featureVector[1]");
        await http.PutRaw(Url + "/products/x",
            "{\"featureVector\": [0, 1, 0], \"restricts\": [{\"namespace\": \"c\", \"allowLst\": [\"a\"]}]}")
            .Problem(400, "allowLst");
        await http.PostRaw(Url + "/search", "{\"featureVector\": [1, 0, 0], \"neighborCount\": \"5\"}").Problem(400,
            "$.neighborCount");
        await http.PostRaw(Url + "/search", "{\"featureVector\": [1, 0, 0], \"k\": 5}").Problem(400,
            "unknown member 'k'");
        await http.PostRaw(Url + "/products:batch",
            "{\"datapoints\": [{\"id\": \"b\", \"featureVector\": [0, 1, 0]}], \"mode\": 1}").Problem(400, "mode");
        await http.PutRaw(Url + "/products/x",
            "{\"featureVector\": [0, 1, 0], \"sparseEmbedding\": {\"values\": [1], \"dimensions\": [2]}}")
            .Problem(400, "sparseEmbedding is not supported");
        await http.PutRaw(Url + "/products/x", "{\"featureVector\": [0, 1, 0], \"embedding\": [0, 1, 0]}").Problem(400,
            "not both");
        Assert.Equal(before.ToJsonString(), (await State()).ToJsonString());
    }

    [Fact]
    public async Task Vertex_index_datapoints_and_jsonl_export_lines_import_unchanged()
    {
        await EnsureCatalog();
        var rest = "{\"datapointId\": \"vertex-rest\", \"featureVector\": [0, 0, 1], \"restricts\": [{\"namespace\": " +
            "\"color\", " +
            "\"allowList\": [\"red\"]}], \"numericRestricts\": [{\"namespace\": \"price\", \"valueDouble\": 9.5}], " +
            "\"crowdingTag\": {\"crowdingAttribute\": \"brand-a\"}, \"embeddingMetadata\": {\"name\": \"Red\"}}";
        // A line as our batch export writes it, in Vertex's JSONL format.
        var line = JsonlRecord.Format(new IndexDatapoint("vertex-jsonl", [0f, 1f, 1f], [new Restriction("color",
            ["blue"], ["red"])],
            [new NumericRestriction("price", ValueInt: 12)], new CrowdingTag("brand-b")));
        await (await http.PostRaw(Url + "/products:batch",
            $"{{\"datapoints\": [{rest}, {line}]}}")).Json(HttpStatusCode.OK);
        var a = await (await http.GetAsync(Url + "/products/vertex-rest")).Json(HttpStatusCode.OK);
        Assert.Equal("red", a["restricts"]![0]!["allowList"]![0]!.GetValue<string>());
        Assert.Equal(9.5, a["numericRestricts"]![0]!["valueDouble"]!.GetValue<double>());
        Assert.Equal("brand-a", a["crowdingTag"]!["crowdingAttribute"]!.GetValue<string>());
        Assert.Equal("Red", a["attributes"]!["name"]!.GetValue<string>());
        var b = await (await http.GetAsync(Url + "/products/vertex-jsonl")).Json(HttpStatusCode.OK);
        Assert.Equal("blue", b["restricts"]![0]!["allowList"]![0]!.GetValue<string>());
        Assert.Equal("red", b["restricts"]![0]!["denyList"]![0]!.GetValue<string>());
        Assert.Equal(12, b["numericRestricts"]![0]!["valueInt"]!.GetValue<long>());
        Assert.Equal("brand-b", b["crowdingTag"]!["crowdingAttribute"]!.GetValue<string>());
        await (await http.DeleteAsync(Url + "/products/vertex-rest")).Json(HttpStatusCode.NoContent);
        await (await http.DeleteAsync(Url + "/products/vertex-jsonl")).Json(HttpStatusCode.NoContent);
    }

    [Fact]
    public async Task Malformed_multipart_bodies_are_400s()
    {
        var before = await EnsureCatalog();
        async Task<HttpResponseMessage> Send(string contentType, string body, string path = "/search")
        {
            var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
            content.Headers.TryAddWithoutValidation("Content-Type", contentType);
            return await http.PostAsync(Url + path, content);
        }
        await Send("multipart/form-data; boundary=abc",
            "--xyz\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nhi\r\n--xyz--\r\n")
            .Problem(400, "multipart");
        await Send("multipart/form-data; boundary=abc",
            "--abc\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a\"\r\n\r\nno end")
            .Problem(400, "multipart");
        await Send("multipart/form-data", "--abc\r\n\r\n").Problem(400, "multipart");
        await Send("multipart/form-data; boundary=\"\"", "garbage").Problem(400, "multipart");
        var put = new ByteArrayContent(Encoding.UTF8.GetBytes("--q\r\nContent-Disposition: form-data; " +
            "name=\"image\"; filename=\"a\"\r\n"));
        put.Headers.TryAddWithoutValidation("Content-Type", "multipart/form-data; boundary=q");
        await http.PutAsync(Url + "/products/x", put).Problem(400, "multipart");
        Assert.Equal(before.ToJsonString(), (await State()).ToJsonString());
    }
}
