using System.Buffers.Binary;
using System.Net;
using Catalogs.Tests;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using SkiaSharp;

namespace Catalogs.ApiHost.Tests;

/// <summary>Image catalogs over the real model: uploads, image URLs, search by photo, and refused images.</summary>
[Collection(ApiCollection.Name)]
public class ImageCatalogTests(ApiFactory factory) : IAsyncLifetime
{
    readonly HttpClient http = factory.CreateClient();
    const string Url = "/v1/catalogs/fashion-test";
    WebApplication? images;
    string imageBase = "";

    static string Photo(string label, int n) => Directory.GetFiles(TestPaths.Image("clothing/images/"
        + label)).Order().ElementAt(n);

    public async Task InitializeAsync()
    {
        // A loopback image server for imageUrl.
        images = await LoopbackServer.StartAsync(app =>
        {
            app.MapGet("/img/{label}/{n:int}", (string label, int n) => Results.File(File.ReadAllBytes(Photo(label, n)),
                "image/jpeg"));
            app.MapGet("/missing.jpg", () => Results.NotFound());
        });
        imageBase = images.Urls.First();
        var encoder = new { model = "mobilenetv2-12-int8.onnx", output = "464_quantized" };
        var r = await http.PutJson(Url, new { encoder, metric = "cosine", shards = 2 });
        Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync());
    }

    public async Task DisposeAsync()
    {
        if (images is not null) await images.DisposeAsync();
    }

    [Fact]
    public async Task Minimal_config_gets_the_models_defaults()
    {
        var info = await (await http.GetAsync(Url)).Json(HttpStatusCode.OK);
        var config = info["config"]!;
        Assert.Equal(1280, config["dimensions"]!.GetValue<int>());
        Assert.Equal("input", config["encoder"]!["input"]!.GetValue<string>());
        Assert.Equal(224, config["encoder"]!["inputSize"]!.GetValue<int>());
        Assert.True(config["encoder"]!["dequantize"]!.GetValue<bool>());
        Assert.True(config["encoder"]!["normalize"]!.GetValue<bool>());
    }

    [Fact]
    public async Task Uploaded_photos_are_found_by_photo_by_url_and_by_product()
    {
        string[] labels = ["Dress", "Dress", "Shoes", "Hat", "Pants"];
        for (int i = 0; i < labels.Length; i++)
        {
            var body = Api.Multipart(File.ReadAllBytes(Photo(labels[i], i)),
                $"{{\"restricts\":[{{\"namespace\":\"category\",\"allowList\":[\"{labels[i]}\"]}}]," +
                $"\"attributes\":{{\"label\":\"{labels[i]}\"}}}}");
            var put = await (await http.PutAsync($"{Url}/products/u{i}", body)).Json(HttpStatusCode.OK);
            Assert.Equal(labels[i], put["attributes"]!["label"]!.GetValue<string>());
        }
        await (await http.PutJson($"{Url}/products/url-shoe",
            new { imageUrl = $"{imageBase}/img/Shoes/7" })).Json(HttpStatusCode.OK);

        // The same photo finds itself first, at distance ~0.
        var byPhoto = await (await http.PostAsync(Url + "/search", Api.Multipart(File.ReadAllBytes(Photo("Shoes", 2)),
            "{\"neighborCount\":3}", "query"))).Json(HttpStatusCode.OK);
        Assert.Equal("u2", Api.Ids(byPhoto)[0]);
        Assert.InRange(byPhoto["neighbors"]![0]!["distance"]!.GetValue<float>(), -1e-4f, 1e-3f);

        var byUrl = await (await http.PostJson(Url + "/search",
            new { imageUrl = $"{imageBase}/img/Hat/3", neighborCount = 1 })).Json(HttpStatusCode.OK);
        Assert.Equal(["u3"], Api.Ids(byUrl));

        var filtered = await (await http.PostJson(Url + "/search", new
        {
            productId = "u0",
            neighborCount = 10,
            restricts = new[] { new { @namespace = "category", allowList = new[] { "Dress" } } },
        })).Json(HttpStatusCode.OK);
        Assert.Equal(["u1"], Api.Ids(filtered));
        var stored = await (await http.GetAsync(Url + "/products/u0")).Json(HttpStatusCode.OK);
        Assert.Equal(1280, stored["featureVector"]!.AsArray().Count);
    }

    [Fact]
    public async Task Refused_images_get_clear_errors_and_change_nothing()
    {
        var info = await (await http.GetAsync(Url)).Json(HttpStatusCode.OK);
        long before = info["products"]!.GetValue<long>();
        var jpeg = File.ReadAllBytes(Photo("Dress", 0));
        await http.PutAsync(Url + "/products/bad", Api.Multipart(jpeg[..(jpeg.Length / 2)])).Problem(422, "truncated");
        await http.PutAsync(Url + "/products/bad",
            Api.Multipart("GIF89a"u8.ToArray().Concat(new byte[] { 10, 0, 10, 0 })
            .Concat("not really a GIF"u8.ToArray()).ToArray())).Problem(422, "GIF");
        await http.PutAsync(Url + "/products/bad", Api.Multipart("%PDF-1.4 not an image"u8.ToArray())).Problem(415,
            "Unsupported image format");
        await http.PutAsync(Url + "/products/bad", Api.Multipart(BmpHeader(10_000, 8_000))).Problem(413, "limit");
        await http.PutJson(Url + "/products/bad", new { imageUrl = $"{imageBase}/missing.jpg" }).Problem(422,
            "could not be fetched");
        await http.PostJson(Url + "/search", new { imageUrl = "not a url" }).Problem(400, "imageUrl");
        var after = await (await http.GetAsync(Url)).Json(HttpStatusCode.OK);
        Assert.Equal(before, after["products"]!.GetValue<long>());
        await http.GetAsync(Url + "/products/bad").Problem(404, "bad");
    }

    [Fact]
    public async Task Transparent_png_is_accepted()
    {
        using var bitmap = new SKBitmap(new SKImageInfo(64, 48, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        bitmap.Erase(SKColors.Transparent);
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        await (await http.PutAsync(Url + "/products/transparent",
            Api.Multipart(data.ToArray()))).Json(HttpStatusCode.OK);
    }

    /// <summary>A BMP whose header claims a huge image, followed by almost no pixels: a decompression bomb.</summary>
    static byte[] BmpHeader(int width, int height)
    {
        var b = new byte[54 + 64];
        b[0] = (byte)'B'; b[1] = (byte)'M';
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(2), b.Length);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(10), 54);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(18), width);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(22), height);
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(26), 1);
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(28), 24);
        return b;
    }
}
