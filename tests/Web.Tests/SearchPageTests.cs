using System.IO.Compression;
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
            var label = id.Split('-')[0];
            form.Add(new StringContent(System.Text.Json.JsonSerializer.Serialize(new
            {
                attributes = new { label },
                restricts = new[] { new { @namespace = "category", allowList = new[] { label } } },
                numericRestricts = new[] { new { @namespace = "price", valueInt = int.Parse(id.Split('-')[1]) } },
            })), "datapoint");
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

    /// <summary>Creates <paramref name="tenant"/> with the operator key Development generated, and a key of it
    /// named <c>owner</c> with every scope.</summary>
    async Task<string> NewTenantKeyAsync(string tenant)
    {
        using var admin = new HttpClient { BaseAddress = api.Address };
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer",
            (await File.ReadAllTextAsync(Path.Combine(api.DataPath, "operator-key"))).Trim());
        Assert.True((await admin.PutAsJsonAsync($"/v1/admin/tenants/{tenant}", new { })).IsSuccessStatusCode);
        var created = await admin.PostAsJsonAsync($"/v1/admin/tenants/{tenant}/keys",
            new { name = "owner", scopes = new[] { "search", "write", "admin" } });
        Assert.True(created.IsSuccessStatusCode);
        return (await created.Content.ReadFromJsonAsync<System.Text.Json.Nodes.JsonNode>())!["key"]!
            .GetValue<string>();
    }

    /// <summary>A page at <paramref name="path"/>, with every console error, page error and failed response it
    /// meets collected.</summary>
    async Task<(IPage Page, List<string> Errors)> NewPageAsync(string path, int width = 1200)
    {
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = width, Height = 900 } });
        var errors = new List<string>();
        page.Console += (_, m) => { if (m.Type == "error") errors.Add(m.Text); };
        page.PageError += (_, e) => errors.Add(e);
        page.Response += (_, r) => { if (r.Status >= 400) errors.Add($"{r.Status} {r.Url}"); };
        await page.GotoAsync(new Uri(api.Address, path).ToString());
        return (page, errors);
    }

    async Task<(IPage Page, List<string> Errors)> OpenAsync(int width = 1200)
    {
        var (page, errors) = await NewPageAsync("/", width);
        await Assertions.Expect(page.Locator("#catalog option")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("#facets fieldset").First).ToBeVisibleAsync(); // the page is settled
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
        // The chooser is intercepted from before the key press (interception set up on the press itself can lose
        // the race with a fast page).
        var chooser = new TaskCompletionSource<IFileChooser>(TaskCreationOptions.RunContinuationsAsynchronously);
        page.FileChooser += (_, c) => chooser.TrySetResult(c);
        await page.Locator("#drop").FocusAsync();
        await Assertions.Expect(page.Locator("#drop")).ToBeFocusedAsync();
        await page.Keyboard.PressAsync("Enter");
        await (await chooser.Task.WaitAsync(TimeSpan.FromSeconds(30))).SetFilesAsync(path);
        await Assertions.Expect(FirstResult(page).Locator(".id")).ToHaveTextAsync(id);
        Assert.True(await page.EvaluateAsync<bool>(
            "() => document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways");
        Assert.Empty(errors);
    }

    [Fact]
    public async Task With_tenant_Bs_key_the_page_cannot_see_tenant_As_catalog_and_with_As_key_it_searches_it()
    {
        // Two tenants, A holding a catalog of one product.
        string keyA = await NewTenantKeyAsync("web-a"), keyB = await NewTenantKeyAsync("web-b");
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

    async Task ScreenshotAsync(IPage page, string name)
    {
        // CATALOGS_SCREENSHOTS=1 refreshes the pictures in docs/screenshots.
        if (Environment.GetEnvironmentVariable("CATALOGS_SCREENSHOTS") != "1") return;
        await page.WaitForLoadStateAsync(LoadState.NetworkIdle);
        await page.ScreenshotAsync(new()
        {
            Path = Path.Combine(TestPaths.RepoRoot, "docs", "screenshots", name),
            FullPage = true,
            Type = ScreenshotType.Jpeg,
            Quality = 80,
        });
    }

    [Fact]
    public async Task Facets_and_the_crowding_limit_narrow_the_results()
    {
        var (page, errors) = await OpenAsync();
        var (id, path) = products[6];
        var label = id.Split('-')[0];
        // The catalog's facets: one box per category with its count, a price range.
        // ... and the dominant colour the catalog computed for each photo.
        await Assertions.Expect(page.Locator("#facets fieldset legend")).ToHaveTextAsync(["category", "color",
            "price"]);
        await Assertions.Expect(page.Locator($"#facets label:has(input[value='{label}'])")).ToContainTextAsync("(4)");
        await page.Locator("#file").SetInputFilesAsync(path);
        await Assertions.Expect(page.Locator("#results .card")).ToHaveCountAsync(16);

        await page.Locator($"#facets input[value='{label}']").CheckAsync();
        await Assertions.Expect(page.Locator("#results .card")).ToHaveCountAsync(4);
        Assert.All(await page.Locator("#results .card .attributes").AllTextContentsAsync(),
            a => Assert.Equal($"label: {label}", a));
        await Assertions.Expect(FirstResult(page).Locator(".id")).ToHaveTextAsync(id);
        await ScreenshotAsync(page, "search-facets.jpg");

        await page.Locator("#facets input[aria-label='price to']").FillAsync("1");
        await page.Locator("#facets input[aria-label='price to']").DispatchEventAsync("change");
        await Assertions.Expect(page.Locator("#results .card")).ToHaveCountAsync(2);
        Assert.Equal([$"{label}-0", $"{label}-1"], (await page.Locator("#results .card .id").AllTextContentsAsync())
            .Order());

        // Without the filters, at most one result per crowding tag: the products have none, so each is its own.
        await page.Locator($"#facets input[value='{label}']").UncheckAsync();
        await page.Locator("#facets input[aria-label='price to']").FillAsync("");
        await page.Locator("#facets input[aria-label='price to']").DispatchEventAsync("change");
        await Assertions.Expect(page.Locator("#results .card")).ToHaveCountAsync(16);
        Assert.Empty(errors);
    }

    async Task<(IPage Page, List<string> Errors)> OpenAdminAsync(int width = 1200)
    {
        var (page, errors) = await NewPageAsync("admin.html", width);
        await Assertions.Expect(page.Locator("#catalogs tbody tr")).ToHaveCountAsync(1);
        return (page, errors);
    }

    [Fact]
    public async Task A_bulk_import_runs_its_progress_bar_to_the_end_and_its_products_appear()
    {
        var zip = Path.Combine(api.DataPath, "new-products.zip");
        var photos = File.ReadLines(TestPaths.Image("clothing/labels.csv")).Skip(1).Select(l => l.Split(','))
            .Where(r => r[1] == "Skirt").Take(12).ToArray();
        using (var archive = ZipFile.Open(zip, ZipArchiveMode.Create))
        {
            var manifest = new System.Text.StringBuilder("id,image,restrict:category,attr:label\n");
            foreach (var (row, i) in photos.Select((r, i) => (r, i)))
            {
                archive.CreateEntryFromFile(TestPaths.Image("clothing/" + row[0]), $"img/{i}.jpg");
                manifest.Append($"skirt-{i},img/{i}.jpg,skirt,skirt\n");
            }
            manifest.Append("broken,img/none.jpg,skirt,skirt\n");
            using var writer = new StreamWriter(archive.CreateEntry("manifest.csv").Open());
            writer.Write(manifest);
        }
        var (page, errors) = await OpenAdminAsync();
        await Assertions.Expect(page.Locator("#catalogs tbody tr")).ToContainTextAsync("16");
        await page.Locator("#import-catalog").SelectOptionAsync("fashion");
        await page.Locator("#import input[type=file]").SetInputFilesAsync(zip);
        await page.Locator("#import button[type=submit]").ClickAsync();
        await Assertions.Expect(page.Locator("#import-progress")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#import-counts")).ToContainTextAsync("completed: 13 of 13",
            new() { Timeout = 60_000 });
        await Assertions.Expect(page.Locator("#import-counts")).ToContainTextAsync("12 written");
        Assert.Equal(13, await page.Locator("#import-bar").EvaluateAsync<double>("b => b.value"));
        await Assertions.Expect(page.Locator("#import-errors")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#catalogs tbody tr")).ToContainTextAsync("28");
        await ScreenshotAsync(page, "admin-import.jpg");

        // The imported products are searchable from the shopper's page, and have a facet of their own.
        var search = await OpenAsync();
        await Assertions.Expect(search.Page.Locator("#facets label:has(input[value='skirt'])"))
            .ToContainTextAsync("(12)");
        await search.Page.Locator("#file").SetInputFilesAsync(TestPaths.Image("clothing/" + photos[4][0]));
        await Assertions.Expect(FirstResult(search.Page).Locator(".id")).ToHaveTextAsync("skirt-4");
        Assert.Empty(errors);
        Assert.Empty(search.Errors);
    }

    [Fact]
    public async Task An_edit_with_a_bad_config_shows_the_APIs_message_and_a_good_one_creates_the_catalog()
    {
        var (page, errors) = await OpenAdminAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Edit fashion" }).ClickAsync();
        await Assertions.Expect(page.Locator("#editor [name=name]")).ToHaveValueAsync("fashion");
        await page.Locator("#editor [name=shards]").FillAsync("65");
        await page.Locator("#editor button[type=submit]").ClickAsync();
        // Exactly what the API says to the same request.
        var direct = await api.Http.PutAsJsonAsync("/v1/catalogs/fashion", new
        {
            metric = "cosine",
            shards = 65,
            index = new { kind = "hnsw", quantization = "none" },
            encoder = new { model = "mobilenetv2-12-int8.onnx", output = "464_quantized" },
        });
        var detail = (await direct.Content.ReadFromJsonAsync<System.Text.Json.Nodes.JsonNode>())!["detail"]!
            .GetValue<string>();
        await Assertions.Expect(page.Locator("#editor-status")).ToHaveTextAsync($"Not saved — 422: {detail}");
        await Assertions.Expect(page.Locator("#editor-status")).ToHaveClassAsync(new Regex("error"));
        await ScreenshotAsync(page, "admin-catalogs.jpg");

        await page.Locator("#editor [name=name]").FillAsync("furniture");
        await page.Locator("#editor [name=shards]").FillAsync("2");
        await page.Locator("#editor button[type=submit]").ClickAsync();
        await Assertions.Expect(page.Locator("#editor-status")).ToHaveTextAsync("Catalog furniture created.");
        await Assertions.Expect(page.Locator("#catalogs tbody tr")).ToHaveCountAsync(2);
        Assert.All(errors, e => Assert.Matches("status of 422|^422 .*/v1/catalogs/fashion$", e));
    }

    [Fact]
    public async Task A_products_page_shows_its_image_datapoint_and_nearest_neighbours()
    {
        var (page, errors) = await OpenAsync();
        var (id, path) = products[9];
        await page.Locator("#file").SetInputFilesAsync(path);
        await Assertions.Expect(FirstResult(page).Locator(".id")).ToHaveTextAsync(id);
        await FirstResult(page).Locator(".details").ClickAsync();
        await Assertions.Expect(page.Locator("#product")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#product-datapoint")).ToContainTextAsync($"\"id\": \"{id}\"");
        await Assertions.Expect(page.Locator("#product-datapoint")).ToContainTextAsync("[1280 numbers]");
        await Assertions.Expect(page.Locator("#neighbours li")).ToHaveCountAsync(8);
        await Assertions.Expect(page.Locator("#product-image")).ToHaveAttributeAsync("src", new Regex("^blob:"));
        // A neighbour's link opens that product.
        var next = (await page.Locator("#neighbours li span").First.TextContentAsync())!.Split(' ')[0];
        await page.Locator("#neighbours li a").First.ClickAsync();
        await Assertions.Expect(page.Locator("#product-datapoint")).ToContainTextAsync($"\"id\": \"{next}\"");
        Assert.Empty(errors);
    }

    [Fact]
    public async Task A_tenants_admin_key_lists_creates_and_revokes_its_keys_on_a_phone_width_screen()
    {
        var key = await NewTenantKeyAsync("shop");

        var (page, errors) = await NewPageAsync("admin.html", width: 375);
        await Assertions.Expect(page.Locator("#keys-status")).ToContainTextAsync("Enter a key");
        await page.Locator("#key").FillAsync(key);
        await page.Locator("#key").DispatchEventAsync("change");
        await Assertions.Expect(page.Locator("#keys-status")).ToHaveTextAsync("");
        await Assertions.Expect(page.Locator("#keys tbody tr")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("#catalogs-status")).ToHaveTextAsync("No catalogs yet: create one below.");

        await page.Locator("#new-key [name=name]").FillAsync("storefront");
        await page.Locator("#new-key button[type=submit]").ClickAsync();
        await Assertions.Expect(page.Locator("#new-secret code")).ToHaveTextAsync(new Regex("^ck_shop_"));
        await Assertions.Expect(page.Locator("#keys tbody tr")).ToHaveCountAsync(2);
        var secret = await page.Locator("#new-secret code").TextContentAsync();
        using (var storefront = new HttpClient { BaseAddress = api.Address })
        {
            storefront.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", secret);
            Assert.Equal(System.Net.HttpStatusCode.OK, (await storefront.GetAsync("/v1/catalogs")).StatusCode);
            await page.GetByRole(AriaRole.Button, new() { Name = "Revoke key storefront" }).ClickAsync();
            await Assertions.Expect(page.Locator("#keys tbody tr", new() { HasText = "storefront" }))
                .ToContainTextAsync("revoked");
            Assert.True(await Eventually.HoldsAsync(async () =>
                (await storefront.GetAsync("/v1/catalogs")).StatusCode == System.Net.HttpStatusCode.Unauthorized,
                TimeSpan.FromSeconds(30)));
        }
        Assert.True(await page.EvaluateAsync<bool>(
            "() => document.documentElement.scrollWidth <= window.innerWidth"), await page.EvaluateAsync<string>(
            "() => [...document.querySelectorAll('*')].filter(e => e.getBoundingClientRect().right > innerWidth)" +
            ".map(e => e.tagName + '#' + e.id + '.' + e.className + ':' + e.getBoundingClientRect().right).join(' ')"));
        Assert.Empty(errors);
    }
}
