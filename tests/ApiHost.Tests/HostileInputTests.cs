using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Catalogs.ImageFuzz;
using Catalogs.Imaging;
using Catalogs.Tests;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Catalogs.ApiHost.Tests;

/// <summary>Crafted images and random or mutated bodies, as a hostile client sends them: always a 4xx, the process
/// stays up, and the catalog does not change.</summary>
[Collection(ApiCollection.Name)]
public class HostileInputTests(ApiFactory factory) : IAsyncLifetime
{
    readonly HttpClient http = factory.CreateClient();
    const string Url = "/v1/catalogs/hostile";
    WebApplication? images;
    string imageBase = "";
    readonly Dictionary<string, byte[]> served = new();

    /// <summary>The 35-byte GIF whose first frame (7000×7000) is larger than its screen (1×1): it crashed the
    /// process.</summary>
    static readonly byte[] CrashGif = [.. "GIF89a"u8, 1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff,
        0x2c, 0, 0, 0, 0, 0x58, 0x1b, 0x58, 0x1b, 0, 2, 2, 0x4c, 1, 0, 0x3b];

    static byte[] Photo() =>
        File.ReadAllBytes(Directory.GetFiles(TestPaths.Image("clothing/images/Dress")).Order().First());

    static byte[] PatchedJpeg()
    {
        var jpeg = Photo();
        int sof = Enumerable.Range(2, jpeg.Length - 10).First(i => jpeg[i] == 0xFF && jpeg[i + 1] is 0xC0 or 0xC2);
        BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(sof + 5), 5000);
        BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(sof + 7), 5000);
        return jpeg;
    }

    static byte[] ShortRleBmp()
    {
        var bmp = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Seeds", "rle8.bmp"));
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(22), 2000); // 16 rows of data
        return bmp;
    }

    public async Task InitializeAsync()
    {
        served["crash.gif"] = CrashGif;
        served["patched.jpg"] = PatchedJpeg();
        served["short.bmp"] = ShortRleBmp();
        images = await LoopbackServer.StartAsync(app =>
            app.MapGet("/{name}", (string name) => Results.File(served[name], "image/octet-stream")));
        imageBase = images.Urls.First();
        var r = await http.PutJson(Url,
            new { encoder = new { model = "mobilenetv2-12-int8.onnx", output = "464_quantized" }, shards = 2 });
        Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync());
        await (await http.PutAsync(Url + "/products/keep", Api.Multipart(Photo(),
            "{\"crowdingTag\":{\"crowdingAttribute\":\"k\"}}")))
            .Json(HttpStatusCode.OK);
    }

    public async Task DisposeAsync()
    {
        if (images is not null) await images.DisposeAsync();
    }

    async Task<string> State()
    {
        var info = await (await http.GetAsync(Url)).Json(HttpStatusCode.OK);
        var keep = await (await http.GetAsync(Url + "/products/keep")).Json(HttpStatusCode.OK);
        return new JsonObject
        {
            ["config"] = info["config"]!.DeepClone(),
            ["products"] = info["products"]!.DeepClone(),
            ["keep"] = keep.DeepClone(),
        }
            .ToJsonString();
    }

    [Theory]
    [InlineData("crash.gif", 413, "7000×7000")]
    [InlineData("patched.jpg", 422, "cannot hold")]
    [InlineData("short.bmp", 422, "ends at row 15")]
    public async Task Crafted_images_are_refused_by_upload_url_and_upsert(string name, int status, string mention)
    {
        var before = await State();
        var image = served[name];
        await http.PostAsync(Url + "/search", Api.Multipart(image, null, "query")).Problem(status, mention);
        await http.PutAsync(Url + "/products/crafted", Api.Multipart(image)).Problem(status, mention);
        await http.PostJson(Url + "/search", new { imageUrl = $"{imageBase}/{name}" }).Problem(status, mention);
        await http.PutJson(Url + "/products/crafted", new { imageUrl = $"{imageBase}/{name}" }).Problem(status,
            mention);
        await http.PostJson(Url + "/products:batch",
            new { datapoints = new[] { new { id = "crafted", imageUrl = $"{imageBase}/{name}" } } })
            .Problem(status, mention);
        // The process is alive and the catalog as it was.
        Assert.Equal(before, await State());
        await http.GetAsync(Url + "/products/crafted").Problem(404, "crafted");
    }

    [Fact]
    public async Task Random_and_mutated_bodies_to_every_endpoint_never_get_a_5xx()
    {
        var before = await State();
        var random = new Random(20261201);
        var seeds = ImageMutator.LoadSeeds(Path.Combine(AppContext.BaseDirectory, "Seeds"), ImageFormat.Jpeg)
            .Concat(ImageMutator.LoadSeeds(Path.Combine(AppContext.BaseDirectory, "Seeds"), ImageFormat.Png)).ToArray();
        var imageMutator = new ImageMutator(seeds, 7);
        string[] json =
        [
            "{\"dimensions\": 1280, \"shards\": 2, \"index\": {\"kind\": \"hnsw\", \"m\": 16}}",
            "{\"featureVector\": [0.1, 0.2], \"restricts\": [{\"namespace\": \"c\", \"allowList\": [\"a\"]}], " +
                "\"crowdingTag\": {\"crowdingAttribute\": \"b\"}}",
            "{\"datapoints\": [{\"id\": \"f1\", \"featureVector\": [1, 2, 3]}, {\"datapointId\": \"f2\", " +
                "\"embedding\": [1]}]}",
            "{\"productId\": \"keep\", \"neighborCount\": 5, \"numericRestricts\": [{\"namespace\": \"p\", " +
                "\"valueInt\": 3, \"op\": \"LESS\"}], \"ef\": 40}",
            "{\"imageUrl\": \"" + imageBase + "/crash.gif\", \"neighborCount\": 2}",
            "{\"gcsUri\": \"gs://bucket/prefix\", \"delta\": true}",
        ];
        (HttpMethod Method, string Path)[] routes =
        [
            (HttpMethod.Put, Url), (HttpMethod.Put, Url + "/products/f1"), (HttpMethod.Post, Url + "/products:batch"),
            (HttpMethod.Post, Url + "/search"), (HttpMethod.Post, Url + "/matchingEngine:export"),
            (HttpMethod.Get, Url + "/products/f1"), (HttpMethod.Delete, Url + "/products/f1"), (HttpMethod.Get, Url
                + "/sync/dead-letters"),
        ];
        var failures = new List<string>();
        for (int i = 0; i < 2400; i++)
        {
            var (method, path) = routes[random.Next(routes.Length)];
            using var request = new HttpRequestMessage(method, path);
            string kind;
            switch (random.Next(4))
            {
                case 0:
                    var bytes = new byte[random.Next(0, 300)];
                    random.NextBytes(bytes);
                    request.Content = new ByteArrayContent(bytes);
                    request.Content.Headers.ContentType = new MediaTypeHeaderValue(random.Next(2) == 0
                        ? "application/json" : "application/octet-stream");
                    kind = "random bytes";
                    break;
                case 1 or 2:
                    var body = Mutate(json[random.Next(json.Length)], random);
                    request.Content = new StringContent(body, Encoding.UTF8, "application/json");
                    kind = "mutated JSON " + (body.Length > 200 ? body[..200] : body);
                    break;
                default:
                    var form = new MultipartFormDataContent(random.Next(3) == 0 ? "b" + random.Next() : "----x");
                    form.Add(new ByteArrayContent(imageMutator.Make(i)), random.Next(5) == 0 ? "img" : "image", "f");
                    if (random.Next(2) == 0) form.Add(new StringContent(Mutate(json[1], random)), random.Next(2) == 0
                        ? "query" : "datapoint");
                    request.Content = form;
                    kind = "multipart";
                    break;
            }
            using var response = await http.SendAsync(request);
            if ((int)response.StatusCode >= 500)
                failures.Add($"{method} {path} with {kind}: {(int)response.StatusCode} " +
                    $"{await response.Content.ReadAsStringAsync()}");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(10)));
        // Some mutated bodies are still valid writes of the fuzzer's own ids; with those gone, nothing else changed.
        foreach (var id in new[] { "f1", "f2" }) await http.DeleteAsync($"{Url}/products/{id}");
        Assert.Equal(before, await State());
    }

    /// <summary>Byte- and token-level edits of a valid JSON body: cut, repeat, swap types, huge numbers, deep
    /// nesting.</summary>
    static string Mutate(string body, Random random)
    {
        var s = new StringBuilder(body);
        for (int n = random.Next(1, 4); n > 0 && s.Length > 0; n--)
        {
            int at = random.Next(s.Length);
            switch (random.Next(9))
            {
                case 0: s.Remove(at, Math.Min(random.Next(1, 10), s.Length - at)); break;
                case 1: s.Insert(at, "{[\"\\:,]}0-e."[random.Next(12)]); break;
                case 2: s.Insert(at, "1e39"); break;
                case 3: s.Insert(at, "\"" + new string('x', random.Next(1, 400)) + "\""); break;
                case 4: s.Insert(at, new string('[', random.Next(1, 80))); break;
                case 5: s.Replace("1", "\"1\"", at, s.Length - at); break;
                case 6: s[at] = (char)random.Next(0, 0x3000); break;
                case 7: s.Length = at; break;
                default: s.Insert(at, ",\"extra\":null"); break;
            }
        }
        return s.ToString();
    }
}
