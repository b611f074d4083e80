using System.Net;
using System.Net.Http.Headers;
using Catalogs.Tests;
using SkiaSharp;

namespace Catalogs.ApiHost.Tests;

/// <summary>Products keep their original images: served as uploaded, as cached thumbnails with ETags, and removed
/// once no product of the shard references them.</summary>
[Collection(ApiCollection.Name)]
public class ProductImageTests(ApiFactory factory)
{
    readonly HttpClient http = factory.CreateClient();
    const string Url = "/v1/catalogs/photos";

    static byte[] Photo(string label, int n = 0) =>
        File.ReadAllBytes(Directory.GetFiles(TestPaths.Image("clothing/images/" + label)).Order().ElementAt(n));

    async Task EnsureCatalog()
    {
        var r = await http.PutJson(Url,
            new { encoder = new { model = "mobilenetv2-12-int8.onnx", output = "464_quantized" }, shards = 1 });
        Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync());
    }

    /// <summary>Original images kept by the catalog's shards (images/{first two hex digits}/{sha256}).</summary>
    int StoredImages() => Directory.GetFiles(Path.Combine(factory.DataPath, "shards", "default", "photos"), "*",
        SearchOption.AllDirectories)
        .Count(f => Path.GetFileName(Path.GetDirectoryName(Path.GetDirectoryName(f))) == "images"
            && !f.EndsWith(".tmp"));

    [Fact]
    public async Task The_original_image_and_thumbnails_are_served_with_etags()
    {
        await EnsureCatalog();
        var photo = Photo("Dress");
        var put = await (await http.PutAsync(Url + "/products/dress", Api.Multipart(photo))).Json(HttpStatusCode.OK);
        var sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(photo));
        Assert.Equal(sha, put["imageSha256"]!.GetValue<string>());

        var original = await http.GetAsync(Url + "/products/dress/image");
        Assert.Equal(HttpStatusCode.OK, original.StatusCode);
        Assert.Equal("image/jpeg", original.Content.Headers.ContentType!.MediaType);
        Assert.Equal(photo, await original.Content.ReadAsByteArrayAsync());
        Assert.Equal($"\"{sha}\"", original.Headers.ETag!.Tag);

        var thumb = await http.GetAsync(Url + "/products/dress/image?size=128");
        Assert.Equal(HttpStatusCode.OK, thumb.StatusCode);
        using (var bitmap = SKBitmap.Decode(await thumb.Content.ReadAsByteArrayAsync()))
        {
            using var source = SKBitmap.Decode(photo);
            Assert.Equal(128, Math.Max(bitmap.Width, bitmap.Height));
            Assert.Equal((double)source.Width / source.Height, (double)bitmap.Width / bitmap.Height, 1);
        }
        // Revalidation: unchanged, so 304 without a body.
        var again = new HttpRequestMessage(HttpMethod.Get, Url + "/products/dress/image?size=128");
        again.Headers.IfNoneMatch.Add(thumb.Headers.ETag!);
        var notModified = await http.SendAsync(again);
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
        Assert.Empty(await notModified.Content.ReadAsByteArrayAsync());

        await http.GetAsync(Url + "/products/dress/image?size=100").Problem(400, "64, 128, 256, 512");
        await http.GetAsync(Url + "/products/dress/image?size=big").Problem(400, "whole number");
        await http.GetAsync(Url + "/products/nobody/image").Problem(404, "nobody");
        await (await http.PutJson(Url + "/products/vector-only",
            new { featureVector = Enumerable.Repeat(0.01f, 1280).ToArray() }))
            .Json(HttpStatusCode.OK);
        await http.GetAsync(Url + "/products/vector-only/image").Problem(404, "no image");
    }

    [Fact]
    public async Task Images_are_kept_once_and_removed_when_no_product_references_them()
    {
        await EnsureCatalog();
        var before = StoredImages();
        var shoe = Photo("Shoes", 2);
        await (await http.PutAsync(Url + "/products/shoe-a", Api.Multipart(shoe))).Json(HttpStatusCode.OK);
        await (await http.PutAsync(Url + "/products/shoe-b", Api.Multipart(shoe))).Json(HttpStatusCode.OK);
        Assert.Equal(before + 1, StoredImages()); // content-addressed: one copy
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(Url + "/products/shoe-a/image?size=64")).StatusCode);

        await (await http.DeleteAsync(Url + "/products/shoe-a")).Json(HttpStatusCode.NoContent);
        // still referenced
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(Url + "/products/shoe-b/image")).StatusCode);
        // Replacing shoe-b's image drops the last reference to the first one.
        await (await http.PutAsync(Url + "/products/shoe-b", Api.Multipart(Photo("Hat", 1)))).Json(HttpStatusCode.OK);
        // Deletions run in the background: the image goes, then its thumbnails.
        var thumbnail = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(shoe)) + ".jpg";
        bool ThumbnailGone() => !Directory.GetFiles(Path.Combine(factory.DataPath, "shards"), "*",
            SearchOption.AllDirectories).Any(f => f.EndsWith(thumbnail));
        Assert.True(await Eventually.HoldsAsync(() => StoredImages() == before + 1 && ThumbnailGone()),
            $"{StoredImages()} images, thumbnail gone: {ThumbnailGone()}");
        await (await http.DeleteAsync(Url + "/products/shoe-b")).Json(HttpStatusCode.NoContent);
        Assert.True(await Eventually.HoldsAsync(() => StoredImages() == before), $"{StoredImages()} images");
    }
}
