using System.Net;
using System.Text.Json.Nodes;
using Catalogs.Tests;

namespace Catalogs.ApiHost.Tests;

/// <summary>A catalog fits an encoder head to its own labels (a restrict namespace) in the background, and
/// re-embeds with it: the tuned encoder serves searches with its fewer dimensions; bad requests are refused.</summary>
[Collection(ApiCollection.Name)]
public class TrainingTests(ApiFactory factory)
{
    readonly HttpClient http = factory.CreateClient();
    static readonly object Backbone = new { model = "mobilenetv2-12-int8.onnx", output = "464_quantized" };

    static readonly (string Label, string Path)[] Photos = new[] { "Dress", "Shoes", "Hat", "Pants" }
        .SelectMany(label => Directory.GetFiles(TestPaths.Image("clothing/images/" + label)).Order().Take(7)
            .Select(path => (label, path))).ToArray();

    [Fact]
    public async Task A_head_fitted_to_the_catalogs_labels_becomes_its_encoder_and_serves_searches()
    {
        const string url = "/v1/catalogs/tuned";
        await (await http.PutJson(url, new { encoder = Backbone, shards = 2 })).Json(HttpStatusCode.Created);
        for (int i = 0; i < Photos.Length; i++)
        {
            var datapoint = $"{{\"restricts\":[{{\"namespace\":\"category\",\"allowList\":[\"{Photos[i].Label}\"]}}," +
                $"{{\"namespace\":\"few\",\"allowList\":[\"{(i < 6 ? "a" : i < 9 ? "b" : "c")}\"]}}]}}";
            var put = await http.PutAsync($"{url}/products/c{i}", Api.Multipart(File.ReadAllBytes(Photos[i].Path),
                datapoint));
            await put.Json(HttpStatusCode.OK);
        }

        // The catalog measures itself: leave-one-out over its labeled products, with the vectors it serves.
        await http.GetAsync(url + "/evaluation").Problem(404, "no evaluation");
        await http.PostJson(url + "/evaluation", new { split = "hash" }).Problem(400, "labelNamespace");
        await http.PostJson(url + "/evaluation", new { labelNamespace = "category", queryPercent = 0 })
            .Problem(422, "queryPercent");
        await http.PostJson(url + "/evaluation", new { labelNamespace = "brand" }).Problem(422, "0 products");
        var raw = await EvaluateAsync(url);
        Assert.Equal(Photos.Length, raw["queries"]!.GetValue<int>());
        Assert.Equal(4, raw["classes"]!.AsArray().Count);

        await http.GetAsync(url + "/training").Problem(404, "no training");
        await http.PostAsync(url + "/training:cancel", null).Problem(409, "No training");
        await http.PostJson(url + "/training", new { kind = "lda" }).Problem(400, "labelNamespace");
        await http.PostJson(url + "/training", new { labelNamespace = "category", kind = "svm" })
            .Problem(400, "kind");
        await http.PostJson(url + "/training", new { labelNamespace = "brand" }).Problem(422, "No product");
        await http.PostJson(url + "/training", new { labelNamespace = "few" }).Problem(422, "at least 5");
        await http.PostJson(url + "/training", new { labelNamespace = "category", dimensions = 0 })
            .Problem(422, "dimensions");
        await http.PostJson(url + "/training", new { labelNamespace = "category", kind = "lda", epochs = 5 })
            .Problem(422, "epochs");
        await http.PutJson(url, new
        {
            encoder = new
            {
                model = "mobilenetv2-12-int8.onnx",
                output = "464_quantized",
                head = "not-a-hash"
            }
        }).Problem(422, "SHA-256");
        await http.PutJson(url, new
        {
            encoder = new
            {
                model = "mobilenetv2-12-int8.onnx",
                output = "464_quantized",
                head = new string('0', 64)
            }
        }).Problem(422, "no head");

        // LDA on 4 labels: 3 dimensions, applied when fitted.
        var started = await (await http.PostJson(url + "/training",
            new { labelNamespace = "category", kind = "lda", apply = true })).Json(HttpStatusCode.Accepted);
        Assert.Equal(Photos.Length, started["examples"]!.GetValue<int>());
        Assert.Equal(4, started["labels"]!.GetValue<int>());
        var lda = await WaitForTrainingAsync(url);
        var head = lda["encoder"]!["head"]!.GetValue<string>();
        Assert.Matches("^[0-9a-f]{64}$", head);
        Assert.Equal(3, lda["dimensions"]!.GetValue<int>());
        Assert.Null(lda["error"]);

        var tuned = await WaitForSwitchAsync(url);
        Assert.Equal(head, tuned["config"]!["encoder"]!["head"]!.GetValue<string>());
        Assert.Equal(3, tuned["config"]!["dimensions"]!.GetValue<int>());
        Assert.Null(tuned["previous"]!["spec"]!["encoder"]!["head"]);
        Assert.Equal(3, (await (await http.GetAsync(url + "/products/c3")).Json(HttpStatusCode.OK))["featureVector"]!
            .AsArray().Count);
        await AssertFindsItselfAsync(url, 3, labelsAgree: true);
        // Measured again, on the tuned vectors now served (fitted on these very labels, so flattering).
        var tunedReport = await EvaluateAsync(url);
        Assert.True(tunedReport["precisionAt10"]!.GetValue<double>() > raw["precisionAt10"]!.GetValue<double>(),
            $"{tunedReport["precisionAt10"]} after tuning, {raw["precisionAt10"]} before");

        // Trained again from the tuned catalog (its images through the backbone): a trained head, configured by hand.
        await (await http.PostJson(url + "/training", new
        {
            labelNamespace = "category",
            kind = "trained",
            dimensions = 16,
            epochs = 5
        })).Json(HttpStatusCode.Accepted);
        var trained = await WaitForTrainingAsync(url);
        Assert.True(trained["epoch"]!.GetValue<int>() is >= 1 and <= 5);
        Assert.InRange(trained["validationPrecisionAt10"]!.GetValue<double>(), 0, 1);
        var trainedHead = trained["encoder"]!["head"]!.GetValue<string>();
        Assert.NotEqual(head, trainedHead);
        Assert.Equal(3, (await (await http.GetAsync(url)).Json(HttpStatusCode.OK))["config"]!["dimensions"]!
            .GetValue<int>()); // not applied
        Assert.Equal(16, trained["dimensions"]!.GetValue<int>());
        await (await http.PutJson(url, new { encoder = trained["encoder"], shards = 2 })).Json(HttpStatusCode.OK);
        var retuned = await WaitForSwitchAsync(url);
        Assert.Equal(16, retuned["config"]!["dimensions"]!.GetValue<int>());
        await AssertFindsItselfAsync(url, 16, labelsAgree: false); // five epochs on 28 photos: no quality claim

        // A vector-only catalog has no encoder to tune.
        await (await http.PutJson("/v1/catalogs/tuned-vectors", new { dimensions = 4 })).Json(HttpStatusCode.Created);
        await http.PostJson("/v1/catalogs/tuned-vectors/training", new { labelNamespace = "category" })
            .Problem(409, "vector-only");
    }

    async Task<JsonNode> EvaluateAsync(string url)
    {
        await (await http.PostJson(url + "/evaluation", new { labelNamespace = "category", split = "leaveOneOut" }))
            .Json(HttpStatusCode.Accepted);
        for (var deadline = DateTime.UtcNow.AddMinutes(2); ; await Task.Delay(100))
        {
            var status = await (await http.GetAsync(url + "/evaluation")).Json(HttpStatusCode.OK);
            var phase = status["phase"]!.GetValue<string>();
            if (phase == "done") return status["report"]!;
            Assert.True(phase == "running", $"evaluation {phase}: {status["error"]}");
            Assert.True(DateTime.UtcNow < deadline, "the evaluation did not end in 2 minutes");
        }
    }

    async Task<JsonNode> WaitForTrainingAsync(string url)
    {
        for (var deadline = DateTime.UtcNow.AddMinutes(3); ; await Task.Delay(100))
        {
            var status = await (await http.GetAsync(url + "/training")).Json(HttpStatusCode.OK);
            var phase = status["phase"]!.GetValue<string>();
            if (phase == "done") return status;
            Assert.True(phase == "running", $"training {phase}: {status["error"]}");
            Assert.True(DateTime.UtcNow < deadline, "the training did not end in 3 minutes");
        }
    }

    async Task<JsonNode> WaitForSwitchAsync(string url)
    {
        for (var deadline = DateTime.UtcNow.AddMinutes(3); ; await Task.Delay(100))
        {
            var info = await (await http.GetAsync(url)).Json(HttpStatusCode.OK);
            var phase = info["reembedding"]?["phase"]?.GetValue<string>();
            if (phase == "switched") return info;
            Assert.True(phase is "copying" or "switched", $"re-embedding {phase}: {info["reembedding"]?["error"]}");
            Assert.True(DateTime.UtcNow < deadline, "the re-embedding did not end in 3 minutes");
        }
    }

    /// <summary>A product's own photo meets its stored vector (distance ~0: the same tuned encoder embedded both),
    /// and, <paramref name="labelsAgree"/>, its nearest products share its label (what the head was fitted
    /// for).</summary>
    async Task AssertFindsItselfAsync(string url, int dimensions, bool labelsAgree)
    {
        foreach (int i in new[] { 0, 9, 20 })
        {
            var hits = (await (await http.PostAsync(url + "/search", Api.Multipart(File.ReadAllBytes(Photos[i].Path),
                $"{{\"neighborCount\":{Photos.Length},\"returnFeatureVector\":true}}", "query")))
                .Json(HttpStatusCode.OK))["neighbors"]!.AsArray();
            var own = hits.Single(h => h!["id"]!.GetValue<string>() == $"c{i}")!;
            Assert.InRange(own["distance"]!.GetValue<float>(), -1e-4f, 1e-3f);
            Assert.Equal(dimensions, own["datapoint"]!["featureVector"]!.AsArray().Count);
            if (labelsAgree) Assert.All(hits.Take(3), h => Assert.Equal(Photos[i].Label,
                Photos[int.Parse(h!["id"]!.GetValue<string>()[1..])].Label));
        }
    }
}
