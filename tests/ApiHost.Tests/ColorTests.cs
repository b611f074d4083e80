using System.Net;
using SkiaSharp;

namespace Catalogs.ApiHost.Tests;

/// <summary>Colours computed at ingest: each product's dominant colour as a <c>color</c> facet and filter (a
/// product's own <c>color</c> namespace wins), and re-ranking by colour with a per-query weight.</summary>
[Collection(ApiCollection.Name)]
public class ColorTests(ApiFactory factory)
{
    readonly HttpClient http = factory.CreateClient();

    /// <summary>A studio shot: a coloured shape on a white background.</summary>
    static byte[] Shot(SKColor color, string shape, int size = 320)
    {
        using var bitmap = new SKBitmap(size, size);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(SKColors.White);
            using var paint = new SKPaint { Color = color, IsAntialias = true };
            float m = size * 0.2f;
            switch (shape)
            {
                case "circle": canvas.DrawCircle(size / 2f, size / 2f, size * 0.32f, paint); break;
                case "square": canvas.DrawRect(m, m, size - 2 * m, size - 2 * m, paint); break;
                default:
                    using (var path = new SKPath())
                    {
                        path.MoveTo(size / 2f, m);
                        path.LineTo(size - m, size - m);
                        path.LineTo(m, size - m);
                        path.Close();
                        canvas.DrawPath(path, paint);
                    }
                    break;
            }
        }
        using var image = SKImage.FromBitmap(bitmap);
        return image.Encode(SKEncodedImageFormat.Jpeg, 92).ToArray();
    }

    [Fact]
    public async Task Products_get_their_dominant_colour_as_a_facet_and_searches_can_rank_by_colour()
    {
        const string url = "/v1/catalogs/colors";
        await (await http.PutJson(url, new
        {
            encoder = new
            {
                model = "mobilenetv2-12-int8.onnx",
                output = "464_quantized"
            }
        })).Json(HttpStatusCode.Created);
        var shots = new (string Id, SKColor Color, string Shape, string Expected)[]
        {
            ("red-circle", new SKColor(210, 30, 35), "circle", "red"),
            ("red-square", new SKColor(200, 20, 40), "square", "red"),
            ("green-circle", new SKColor(40, 160, 60), "circle", "green"),
            ("green-square", new SKColor(30, 140, 50), "square", "green"),
            ("blue-square", new SKColor(30, 60, 200), "square", "blue"),
            ("black-circle", new SKColor(20, 20, 22), "circle", "black"),
            ("yellow-triangle", new SKColor(240, 210, 30), "triangle", "yellow"),
            ("brown-square", new SKColor(110, 60, 25), "square", "brown"),
        };
        foreach (var (id, color, shape, _) in shots)
            await (await http.PutAsync($"{url}/products/{id}", Api.Multipart(Shot(color, shape), "{}")))
                .Json(HttpStatusCode.OK);
        // A namespace of the product's own is never overwritten.
        await (await http.PutAsync($"{url}/products/own", Api.Multipart(Shot(new SKColor(210, 30, 35), "triangle"),
            "{\"restricts\":[{\"namespace\":\"color\",\"allowList\":[\"crimson\"]}]}"))).Json(HttpStatusCode.OK);

        foreach (var (id, _, _, expected) in shots)
        {
            var product = await (await http.GetAsync($"{url}/products/{id}")).Json(HttpStatusCode.OK);
            Assert.Equal(expected, product["color"]!.GetValue<string>());
        }
        var facets = await (await http.GetAsync(url + "/facets")).Json(HttpStatusCode.OK);
        var colors = facets["restricts"]!.AsArray().Single(n => n!["namespace"]!.GetValue<string>() == "color")!;
        var counts = colors["tokens"]!.AsArray().ToDictionary(t => t!["token"]!.GetValue<string>(),
            t => t!["products"]!.GetValue<int>());
        Assert.Equal(2, counts["red"]);
        Assert.Equal(2, counts["green"]);
        Assert.Equal(1, counts["crimson"]);

        var query = Shot(new SKColor(205, 25, 30), "triangle");
        var onlyRed = await (await http.PostAsync(url + "/search", Api.Multipart(query,
            "{\"neighborCount\":10,\"restricts\":[{\"namespace\":\"color\",\"allowList\":[\"red\"]}]}", "query")))
            .Json(HttpStatusCode.OK);
        Assert.Equal(["red-circle", "red-square"], Api.Ids(onlyRed).Order());

        // By colour alone, the red shapes come first whatever their form; the visual ranking decides in between.
        var byColor = await (await http.PostAsync(url + "/search", Api.Multipart(query,
            "{\"neighborCount\":3,\"colorWeight\":1}", "query"))).Json(HttpStatusCode.OK);
        Assert.Equal(["own", "red-circle", "red-square"], Api.Ids(byColor).Order());
        var byProduct = await (await http.PostJson(url + "/search",
            new { productId = "green-circle", neighborCount = 1, colorWeight = 0.9 })).Json(HttpStatusCode.OK);
        Assert.Equal(["green-square"], Api.Ids(byProduct));

        await http.PostAsync(url + "/search", Api.Multipart(query, "{\"colorWeight\":1.5}", "query"))
            .Problem(422, "colorWeight must lie in [0, 1]");
        await http.PostJson(url + "/search", new { featureVector = Enumerable.Repeat(0.1f, 1280), colorWeight = 0.5 })
            .Problem(422, "colorWeight needs a query image");
        await http.PostJson(url + "/search", new
        {
            productId = "red-circle",
            colorWeight = 0.5,
            strategy = "bestScore",
            negative = new[] { new { productId = "blue-square" } }
        })
            .Problem(422, "averageVector");
    }
}
