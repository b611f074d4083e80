using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Catalogs.Tests;
using Microsoft.Playwright;

namespace Catalogs.Web.Tests;

/// <summary>The shopper's search page in Debian's Chromium (headless, driven by Playwright; no browser is ever
/// downloaded) against the real ApiHost: a catalog of real clothing photos encoded by the real model.</summary>
public sealed class SearchPageTests : IAsyncLifetime
{
    ApiHostProcess api = null!;
    IPlaywright playwright = null!;
    IBrowser browser = null!;
    readonly List<(string Id, string Path)> products = [];

    public async Task InitializeAsync()
    {
        api = await ApiHostProcess.StartAsync(TestPaths.NewTempDirectory("web"));
        var created = await api.Http.PutAsJsonAsync("/v1/catalogs/fashion", new
        {
            encoder = new { model = "mobilenetv2-12-int8.onnx", output = "464_quantized" },
            metric = "cosine",
            shards = 2,
        });
        Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync());
        var labels = File.ReadLines(TestPaths.Image("clothing/labels.csv")).Skip(1).Select(l => l.Split(','))
            .GroupBy(r => r[1]).OrderBy(g => g.Key).Take(4);
        foreach (var label in labels)
            foreach (var (row, i) in label.Take(4).Select((r, i) => (r, i)))
                products.Add(($"{label.Key.ToLowerInvariant()}-{i}", TestPaths.Image("clothing/" + row[0])));
        foreach (var (id, path) in products)
        {
            using var form = new MultipartFormDataContent();
            var image = new ByteArrayContent(await File.ReadAllBytesAsync(path));
            image.Headers.ContentType = new MediaTypeHeaderValue("image/jpeg");
            form.Add(image, "image", Path.GetFileName(path));
            form.Add(new StringContent(System.Text.Json.JsonSerializer.Serialize(
                new { attributes = new { label = id.Split('-')[0] } })), "datapoint");
            var put = await api.Http.PutAsync($"/v1/catalogs/fashion/products/{id}", form);
            Assert.True(put.IsSuccessStatusCode, await put.Content.ReadAsStringAsync());
        }
        playwright = await Playwright.CreateAsync();
        browser = await playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            // Offline machine: no background traffic, no sandbox as root.
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
    }

    public async Task DisposeAsync()
    {
        await browser.DisposeAsync();
        playwright.Dispose();
        await api.DisposeAsync();
    }

    async Task<(IPage Page, List<string> Errors)> OpenAsync(int width = 1200)
    {
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = width, Height = 900 } });
        var errors = new List<string>();
        page.Console += (_, m) => { if (m.Type == "error") errors.Add(m.Text); };
        page.PageError += (_, e) => errors.Add(e);
        page.Response += (_, r) => { if (r.Status >= 400) errors.Add($"{r.Status} {r.Url}"); };
        await page.GotoAsync(api.Address.ToString());
        await Assertions.Expect(page.Locator("#catalog option")).ToHaveCountAsync(1);
        return (page, errors);
    }

    static ILocator FirstResult(IPage page) => page.Locator("#results .card").First;

    [Fact]
    public async Task A_chosen_photo_finds_its_product_first_with_thumbnails_and_no_console_errors()
    {
        var (page, errors) = await OpenAsync();
        var (id, path) = products[5];
        await page.Locator("#file").SetInputFilesAsync(path);
        await Assertions.Expect(FirstResult(page).Locator(".id")).ToHaveTextAsync(id);
        Assert.Equal(16, await page.Locator("#results .card").CountAsync());
        // The first thumbnail is a loaded image (fetched with the page's key, if any), not a broken one.
        await Assertions.Expect(FirstResult(page).Locator("img")).ToHaveAttributeAsync("src", new Regex("^blob:"));
        Assert.True(await FirstResult(page).Locator("img")
            .EvaluateAsync<bool>("i => i.complete && i.naturalWidth > 0"));
        await Assertions.Expect(FirstResult(page).Locator(".attributes")).ToContainTextAsync("label:");
        // CATALOGS_SCREENSHOTS=1 refreshes the README's picture of this page.
        if (Environment.GetEnvironmentVariable("CATALOGS_SCREENSHOTS") == "1")
        {
            await page.WaitForLoadStateAsync(LoadState.NetworkIdle);
            await page.ScreenshotAsync(new()
            {
                Path = Path.Combine(TestPaths.RepoRoot, "docs", "screenshots", "search.jpg"),
                FullPage = true,
                Type = ScreenshotType.Jpeg,
                Quality = 80,
            });
        }
        Assert.Empty(errors);
    }

    [Fact]
    public async Task A_dropped_photo_searches_and_clicking_a_result_searches_by_that_product()
    {
        var (page, errors) = await OpenAsync();
        var (id, path) = products[10];
        var dataTransfer = await page.EvaluateHandleAsync("""
            (b64) => {
              const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
              const dt = new DataTransfer();
              dt.items.add(new File([bytes], 'dropped.jpg', { type: 'image/jpeg' }));
              return dt;
            }
            """, Convert.ToBase64String(await File.ReadAllBytesAsync(path)));
        await page.DispatchEventAsync("#drop", "drop", new { dataTransfer });
        await Assertions.Expect(FirstResult(page).Locator(".id")).ToHaveTextAsync(id);

        // "More like this" on the second result: a product search, which leaves the product itself out.
        var second = await page.Locator("#results .card .id").Nth(1).TextContentAsync();
        await page.Locator("#results .card button").Nth(1).ClickAsync();
        await Assertions.Expect(page.Locator("#status")).ToContainTextAsync($"for {second}");
        await Assertions.Expect(page.Locator("#results .card")).ToHaveCountAsync(15);
        Assert.DoesNotContain(second, await page.Locator("#results .card .id").AllTextContentsAsync());
        Assert.Empty(errors);
    }

    [Fact]
    public async Task The_page_works_from_the_keyboard_and_fits_a_phone_width_screen()
    {
        var (page, errors) = await OpenAsync(width: 375);
        var (id, path) = products[0];
        // Keyboard: focus the drop zone, press Enter, and the file chooser opens.
        await page.Locator("#drop").FocusAsync();
        var chooser = await page.RunAndWaitForFileChooserAsync(() => page.Keyboard.PressAsync("Enter"));
        await chooser.SetFilesAsync(path);
        await Assertions.Expect(FirstResult(page).Locator(".id")).ToHaveTextAsync(id);
        Assert.True(await page.EvaluateAsync<bool>(
            "() => document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways");
        Assert.Empty(errors);
    }

    [Fact]
    public async Task With_tenant_Bs_key_the_page_cannot_see_tenant_As_catalog_and_with_As_key_it_searches_it()
    {
        // Development's generated operator key creates two tenants, A holding a catalog of one product.
        using var admin = new HttpClient { BaseAddress = api.Address };
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer",
            (await File.ReadAllTextAsync(Path.Combine(api.DataPath, "operator-key"))).Trim());
        async Task<string> TenantKeyAsync(string tenant)
        {
            Assert.True((await admin.PutAsJsonAsync($"/v1/admin/tenants/{tenant}", new { })).IsSuccessStatusCode);
            var created = await admin.PostAsJsonAsync($"/v1/admin/tenants/{tenant}/keys",
                new { scopes = new[] { "search", "write", "admin" } });
            return (await created.Content.ReadFromJsonAsync<System.Text.Json.Nodes.JsonNode>())!["key"]!
                .GetValue<string>();
        }
        string keyA = await TenantKeyAsync("web-a"), keyB = await TenantKeyAsync("web-b");
        using var a = new HttpClient { BaseAddress = api.Address };
        a.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", keyA);
        Assert.True((await a.PutAsJsonAsync("/v1/catalogs/a-only", new
        {
            encoder = new { model = "mobilenetv2-12-int8.onnx", output = "464_quantized" },
            metric = "cosine",
        })).IsSuccessStatusCode);
        using (var form = new MultipartFormDataContent())
        {
            form.Add(new ByteArrayContent(await File.ReadAllBytesAsync(products[3].Path)), "image", "a.jpg");
            Assert.True((await a.PutAsync("/v1/catalogs/a-only/products/a-1", form)).IsSuccessStatusCode);
        }

        var (page, errors) = await OpenAsync(); // anonymous: tenant default, which holds "fashion"
        await page.Locator("#key").FillAsync(keyB);
        await page.Locator("#key").DispatchEventAsync("change");
        await Assertions.Expect(page.Locator("#status")).ToHaveTextAsync("No catalogs yet.");
        await Assertions.Expect(page.Locator("#catalog option")).ToHaveCountAsync(0);

        await page.Locator("#key").FillAsync(keyA);
        await page.Locator("#key").DispatchEventAsync("change");
        await Assertions.Expect(page.Locator("#catalog option")).ToHaveTextAsync(["a-only (1)"]);
        await page.Locator("#file").SetInputFilesAsync(products[3].Path);
        await Assertions.Expect(FirstResult(page).Locator(".id")).ToHaveTextAsync("a-1");
        // The thumbnail came through with A's key.
        await Assertions.Expect(FirstResult(page).Locator("img")).ToHaveAttributeAsync("src", new Regex("^blob:"));
        Assert.Empty(errors);
    }

    [Fact]
    public async Task A_refused_search_shows_the_APIs_message()
    {
        var (page, errors) = await OpenAsync();
        var bad = Path.Combine(api.DataPath, "not-an-image.jpg");
        await File.WriteAllTextAsync(bad, "this is text, not a photo");
        await page.Locator("#file").SetInputFilesAsync(bad);
        await Assertions.Expect(page.Locator("#status")).ToHaveClassAsync(new Regex("error"));
        await Assertions.Expect(page.Locator("#status")).ToContainTextAsync("Search failed — 4");
        // The browser reports the refused search itself (a console error and a 4xx response); nothing else fails.
        Assert.All(errors, e => Assert.Matches("status of 4|^4.. .*/search$", e));
    }
}
