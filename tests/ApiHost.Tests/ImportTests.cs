using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Catalogs.Tests;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Catalogs.ApiHost.Tests;

/// <summary>The API host with small import limits and a server-side import folder.</summary>
public sealed class ImportFactory : ApiFactory
{
    public string Folder { get; } = TestPaths.NewTempDirectory("import-folder");

    /// <summary>Imports:Path shared with other hosts (default: under the data path).</summary>
    public string? ImportsPath { get; init; }

    protected override void Configure(IWebHostBuilder builder)
    {
        base.Configure(builder);
        builder.UseSetting("Imports:MaxManifestBytes", "100000");
        builder.UseSetting("Imports:MaxUncompressedBytes", (50 << 20).ToString());
        builder.UseSetting("Imports:MaxImageBytes", (4 << 20).ToString());
        builder.UseSetting("Imports:Folders:shop", Folder);
        builder.UseSetting("Imports:ResumeInterval", "00:00:01");
        if (ImportsPath is not null) builder.UseSetting("Imports:Path", ImportsPath);
    }
}

/// <summary>Bulk imports over the real model: zips with and without manifests, URL manifests with slow and failing
/// hosts, server folders; per-row errors, idempotent re-runs, cancellation, and the archive defences.</summary>
public class ImportTests(ImportFactory factory) : IClassFixture<ImportFactory>, IAsyncLifetime
{
    readonly HttpClient http = factory.CreateClient();
    const string Catalog = "/v1/catalogs/imports-test";

    static string Photo(string label, int n) => Directory.GetFiles(TestPaths.Image("clothing/images/" + label))
        .Order().ElementAt(n);

    public async Task InitializeAsync()
    {
        var encoder = new { model = "mobilenetv2-12-int8.onnx", output = "464_quantized" };
        var r = await http.PutJson(Catalog, new { encoder, metric = "cosine", shards = 2 });
        Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync());
    }

    public Task DisposeAsync() => Task.CompletedTask;

    static byte[] Zip(Action<ZipArchive> fill)
    {
        var bytes = new MemoryStream();
        using (var zip = new ZipArchive(bytes, ZipArchiveMode.Create, leaveOpen: true)) fill(zip);
        return bytes.ToArray();
    }

    static void Add(ZipArchive zip, string name, byte[] content, CompressionLevel level = CompressionLevel.Fastest)
    {
        using var s = zip.CreateEntry(name, level).Open();
        s.Write(content);
    }

    static void Add(ZipArchive zip, string name, string text) => Add(zip, name, Encoding.UTF8.GetBytes(text));

    Task<HttpResponseMessage> Upload(byte[] body, string type, string catalog = Catalog)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue(type);
        return http.PostAsync(catalog + "/imports", content);
    }

    async Task<string> StartAsync(byte[] body, string type)
    {
        var r = await Upload(body, type);
        var job = await r.Json(HttpStatusCode.Accepted);
        Assert.Contains(job["state"]!.GetValue<string>(), new[] { "queued", "running" });
        return r.Headers.Location!.ToString();
    }

    async Task<JsonNode> EndAsync(string job)
    {
        JsonNode view = new JsonObject();
        Assert.True(await Eventually.HoldsAsync(async () =>
        {
            view = await (await http.GetAsync(job)).Json(HttpStatusCode.OK);
            return view["state"]!.GetValue<string>() is not ("queued" or "running");
        }, TimeSpan.FromSeconds(90)), "the import did not end");
        return view;
    }

    static int N(JsonNode view, string name) => view[name]!.GetValue<int>();

    /// <summary>A plain console for the CLI, its output kept.</summary>
    static (Spectre.Console.IAnsiConsole Console, StringWriter Output) CliConsole()
    {
        var output = new StringWriter();
        return (Spectre.Console.AnsiConsole.Create(new Spectre.Console.AnsiConsoleSettings
        {
            Ansi = Spectre.Console.AnsiSupport.No,
            Interactive = Spectre.Console.InteractionSupport.No,
            Out = new Spectre.Console.AnsiConsoleOutput(output),
        }), output);
    }

    async Task<string[]> ErrorLines(string job) =>
        (await http.GetStringAsync(job + "/errors")).Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public async Task A_zip_with_a_csv_manifest_imports_its_rows_reports_bad_ones_and_reruns_as_unchanged()
    {
        string[] labels = ["Dress", "Shoes", "Hat", "Pants", "Shorts", "Skirt"];
        string Manifest(string extraPrice) =>
            "id,image,crowdingTag,restrict:category,numeric:price,attr:name\n" +
            string.Join("", labels.Select((l, i) =>
                $"csv-{i},images/{l}.jpg,brand-{i % 2},{l}|clothing,{(i == 0 ? extraPrice : "10")},\"{l}, nice\"\n")) +
            "bad-missing,images/none.jpg,,,,\n" +
            "bad-garbage,images/garbage.jpg,,,,\n" +
            "bad-price,images/Dress.jpg,,,cheap,\n" +
            "csv-1,images/Hat.jpg,,,,\n" +
            "bad-slip,../../../etc/passwd,,,,\n" +
            "bad/id,images/Dress.jpg,,,,\n" +
            "short-row\n";
        byte[] Archive(string price) => Zip(zip =>
        {
            for (int i = 0; i < labels.Length; i++)
                Add(zip, $"images/{labels[i]}.jpg", File.ReadAllBytes(Photo(labels[i], i)));
            Add(zip, "images/garbage.jpg", new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 });
            Add(zip, "manifest.csv", Manifest(price));
        });

        var job = await StartAsync(Archive("12.5"), "application/zip");
        var view = await EndAsync(job);
        Assert.Equal("completed", view["state"]!.GetValue<string>());
        Assert.Equal(13, N(view, "total"));
        Assert.Equal(6, N(view, "written"));
        Assert.Equal(7, N(view, "failed"));
        var errors = await ErrorLines(job);
        Assert.Equal("row,id,error", errors[0]);
        Assert.Equal(8, errors.Length);
        Assert.Contains(errors, e => e.StartsWith("7,bad-missing,") && e.Contains("not in the archive"));
        Assert.Contains(errors, e => e.StartsWith("8,bad-garbage,"));
        Assert.Contains(errors, e => e.StartsWith("9,bad-price,") && e.Contains("not a number"));
        Assert.Contains(errors, e => e.StartsWith("10,csv-1,") && e.Contains("row 2"));
        Assert.Contains(errors, e => e.StartsWith("11,bad-slip,") && e.Contains("'..'"));
        Assert.Contains(errors, e => e.StartsWith("12,bad/id,") && e.Contains("'/'"));
        Assert.Contains(errors, e => e.StartsWith("13,,") && e.Contains("fields"));

        var product = await (await http.GetAsync(Catalog + "/products/csv-0")).Json(HttpStatusCode.OK);
        Assert.Equal("Dress, nice", product["attributes"]!["name"]!.GetValue<string>());
        Assert.Equal("brand-0", product["crowdingTag"]!["crowdingAttribute"]!.GetValue<string>());
        Assert.Equal(12.5, product["numericRestricts"]![0]!["valueDouble"]!.GetValue<double>());
        var photo = new ByteArrayContent(File.ReadAllBytes(Photo("Hat", 2)));
        var form = new MultipartFormDataContent { { photo, "image", "hat.jpg" } };
        var found = await (await http.PostAsync(Catalog + "/search", form)).Json(HttpStatusCode.OK);
        Assert.Equal("csv-2", Api.Ids(found)[0]);

        // The same archive again: nothing changed, nothing written. With one price changed, that product alone is
        // written again (its image is the same: its vector is kept).
        var again = await EndAsync(await StartAsync(Archive("12.5"), "application/zip"));
        Assert.Equal((0, 6, 7), (N(again, "written"), N(again, "unchanged"), N(again, "failed")));
        var changed = await EndAsync(await StartAsync(Archive("99"), "application/zip"));
        Assert.Equal((1, 5), (N(changed, "written"), N(changed, "unchanged")));
        product = await (await http.GetAsync(Catalog + "/products/csv-0")).Json(HttpStatusCode.OK);
        Assert.Equal(99, product["numericRestricts"]![0]!["valueInt"]!.GetValue<long>());

        // Quotas count each product's image as uploaded and its vector.
        var catalog = await (await http.GetAsync(Catalog)).Json(HttpStatusCode.OK);
        var imported = labels.Select((l, i) => new FileInfo(Photo(l, i)).Length + 1280 * 4).Sum();
        Assert.True(imported <= catalog["shards"]!.AsArray().Sum(s => s!["storedBytes"]!.GetValue<long>()));

        var list = await (await http.GetAsync(Catalog + "/imports")).Json(HttpStatusCode.OK);
        Assert.Equal(3, list["imports"]!.AsArray().Count);
    }

    [Fact]
    public async Task Zip_slip_entries_and_symbolic_links_are_never_read_and_are_reported()
    {
        var zip = Zip(zip =>
        {
            Add(zip, "Dress/a.jpg", File.ReadAllBytes(Photo("Dress", 3)));
            Add(zip, "Hat/b.jpg", File.ReadAllBytes(Photo("Hat", 4)));
            Add(zip, "../escape.jpg", File.ReadAllBytes(Photo("Hat", 5)));
            Add(zip, "/etc/absolute.jpg", File.ReadAllBytes(Photo("Hat", 5)));
            Add(zip, "C:\\windows\\drive.jpg", File.ReadAllBytes(Photo("Hat", 5)));
            var link = zip.CreateEntry("Hat/link.jpg");
            link.ExternalAttributes = (0xA000 | 0x1FF) << 16; // a symbolic link to /etc/passwd
            using (var s = link.Open()) s.Write(Encoding.UTF8.GetBytes("/etc/passwd"));
        });
        var job = await StartAsync(zip, "application/zip");
        var view = await EndAsync(job);
        var errors = string.Join('\n', await ErrorLines(job));
        Assert.True((2, 4) == (N(view, "written"), N(view, "failed")), view + errors);
        Assert.Contains("'../escape.jpg' leaves the archive", errors);
        Assert.Contains("'/etc/absolute.jpg' is an absolute path", errors);
        Assert.Contains("drive.jpg' is an absolute path", errors);
        Assert.Contains("'Hat/link.jpg' is a symbolic link", errors);
        // Without a manifest: ids from paths, the top folder as a restrict.
        var b = await (await http.GetAsync(Catalog + "/products/Hat_b")).Json(HttpStatusCode.OK);
        Assert.Equal("Hat", b["restricts"]![0]!["allowList"]![0]!.GetValue<string>());
        await http.GetAsync(Catalog + "/products/Hat_link").Problem(404, "does not exist");
    }

    [Fact]
    public async Task Zip_bombs_and_oversized_manifests_are_refused()
    {
        // Entries that unpack far beyond their size: each fails alone, the real image imports.
        var bomb = Zip(zip =>
        {
            Add(zip, "ok.jpg", File.ReadAllBytes(Photo("Shoes", 9)));
            Add(zip, "zeros.jpg", new byte[3 << 20], CompressionLevel.SmallestSize); // 3 MiB → a few KiB
            Add(zip, "huge.jpg", new byte[5 << 20], CompressionLevel.SmallestSize); // above Imports:MaxImageBytes
        });
        var job = await StartAsync(bomb, "application/zip");
        var view = await EndAsync(job);
        Assert.Equal((1, 2), (N(view, "written"), N(view, "failed")));
        var errors = string.Join('\n', await ErrorLines(job));
        Assert.Contains("'zeros.jpg' compresses", errors);
        Assert.Contains("'huge.jpg' is 5,242,880 bytes uncompressed", errors);

        // An archive whose entries add up to more than Imports:MaxUncompressedBytes is refused whole.
        var total = Zip(zip =>
        {
            for (int i = 0; i < 14; i++) Add(zip, $"z{i}.jpg", new byte[4 << 20], CompressionLevel.SmallestSize);
        });
        await Upload(total, "application/zip").Problem(413, "Imports:MaxUncompressedBytes");

        var manifest = "id,image\n" + string.Concat(Enumerable.Range(0, 5000).Select(i =>
            $"p{i},http://127.0.0.1:9/{i}.jpg\n"));
        await Upload(Encoding.UTF8.GetBytes(manifest), "text/csv").Problem(413, "Imports:MaxManifestBytes");
        await Upload(Zip(zip => Add(zip, "manifest.csv", manifest)), "application/zip")
            .Problem(413, "Imports:MaxManifestBytes");
        await Upload([1, 2, 3], "application/zip").Problem(422, "not a readable zip");
        await Upload(Encoding.UTF8.GetBytes("name,url\na,b\n"), "text/csv").Problem(400, "'id' and 'image'");
        await Upload([1], "image/png").Problem(415, "application/json or application/zip or");
        await Upload(Zip(_ => { }), "application/zip", "/v1/catalogs/no-such-catalog").Problem(404, "does not exist");
    }

    [Fact]
    public async Task A_slow_image_host_holds_up_only_its_own_rows_and_a_failing_one_fails_its_rows()
    {
        var release = new TaskCompletionSource();
        await using var fast = await LoopbackServer.StartAsync(app => app.MapGet("/{n:int}.jpg", (int n) =>
            Results.File(File.ReadAllBytes(Photo("Shirt", n)), "image/jpeg")));
        await using var slow = await LoopbackServer.StartAsync(app => app.MapGet("/{n:int}.jpg", async (int n) =>
        {
            await release.Task;
            return Results.File(File.ReadAllBytes(Photo("Longsleeve", n)), "image/jpeg");
        }));
        await using var failing = await LoopbackServer.StartAsync(app => app.MapGet("/{n:int}.jpg",
            () => Results.StatusCode(500)));
        var lines = new List<string> { "id,image" };
        for (int i = 0; i < 6; i++) lines.Add($"slow-{i},{slow.Urls.First()}/{i}.jpg");
        for (int i = 0; i < 24; i++) lines.Add($"fast-{i},{fast.Urls.First()}/{i}.jpg");
        for (int i = 0; i < 3; i++) lines.Add($"failing-{i},{failing.Urls.First()}/{i}.jpg");
        var job = await StartAsync(Encoding.UTF8.GetBytes(string.Join('\n', lines)), "text/csv");

        // Everything but the slow host's rows gets done while that host still holds its answers back.
        Assert.True(await Eventually.HoldsAsync(async () =>
        {
            var v = await (await http.GetAsync(job)).Json(HttpStatusCode.OK);
            return N(v, "written") == 24 && N(v, "failed") == 3;
        }, TimeSpan.FromSeconds(60)));
        var during = await (await http.GetAsync(job)).Json(HttpStatusCode.OK);
        Assert.Equal("running", during["state"]!.GetValue<string>());
        Assert.Equal(27, N(during, "done"));
        release.SetResult();
        var view = await EndAsync(job);
        Assert.Equal((30, 3), (N(view, "written"), N(view, "failed")));
        Assert.Contains(await ErrorLines(job),
            e => e.StartsWith("31,failing-0,") && e.Contains("could not be fetched"));
    }

    [Fact]
    public async Task A_cancelled_import_stops_and_progress_streams_as_server_sent_events()
    {
        var never = new TaskCompletionSource();
        await using var stuck = await LoopbackServer.StartAsync(app => app.MapGet("/{n:int}.jpg", async (int n) =>
        {
            await never.Task;
            return Results.NotFound();
        }));
        var manifest = "{\"id\":\"v1\",\"featureVector\":[" + string.Join(",", Enumerable.Repeat("0.5", 1280)) +
            "],\"restricts\":[{\"namespace\":\"kind\",\"allowList\":[\"vector\"]}]}\n" +
            string.Concat(Enumerable.Range(0, 8).Select(i => $"{{\"id\":\"stuck-{i}\",\"image\":\"" +
                $"{stuck.Urls.First()}/{i}.jpg\"}}\n"));
        var job = await StartAsync(Encoding.UTF8.GetBytes(manifest), "application/x-ndjson");
        Assert.True(await Eventually.HoldsAsync(async () =>
            N(await (await http.GetAsync(job)).Json(HttpStatusCode.OK), "written") == 1));
        var events = http.GetStreamAsync(job + "/events");
        var cancelled = await (await http.PostAsync(job + ":cancel", null)).Json(HttpStatusCode.Accepted);
        Assert.Equal(job.Split('/')[^1], cancelled["id"]!.GetValue<string>());
        var view = await EndAsync(job);
        Assert.Equal("cancelled", view["state"]!.GetValue<string>());
        await http.PostAsync(job + ":cancel", null).Problem(409, "already ended");
        var stored = await (await http.GetAsync(Catalog + "/products/v1")).Json(HttpStatusCode.OK);
        Assert.Equal("vector", stored["restricts"]![0]!["allowList"]![0]!.GetValue<string>());

        using var reader = new StreamReader(await events);
        var text = await reader.ReadToEndAsync();
        Assert.StartsWith("event: progress", text);
        Assert.Contains("\"state\":\"cancelled\"", text);
        never.SetResult();
    }

    [Fact]
    public async Task A_server_folder_imports_without_following_links_out_of_it()
    {
        Directory.CreateDirectory(Path.Combine(factory.Folder, "Skirt"));
        File.Copy(Photo("Skirt", 1), Path.Combine(factory.Folder, "Skirt", "one.jpg"));
        File.Copy(Photo("Skirt", 2), Path.Combine(factory.Folder, "two.jpg"));
        var outside = TestPaths.NewTempDirectory("outside");
        File.Copy(Photo("Hat", 8), Path.Combine(outside, "secret.jpg"));
        File.CreateSymbolicLink(Path.Combine(factory.Folder, "Skirt", "link.jpg"), Path.Combine(outside,
            "secret.jpg"));
        Directory.CreateSymbolicLink(Path.Combine(factory.Folder, "elsewhere"), outside);

        var r = await http.PostJson(Catalog + "/imports", new { folder = "shop" });
        await r.Json(HttpStatusCode.Accepted);
        var view = await EndAsync(r.Headers.Location!.ToString());
        Assert.Equal((2, 0), (N(view, "written"), N(view, "failed")));
        await (await http.GetAsync(Catalog + "/products/Skirt_one")).Json(HttpStatusCode.OK);
        await (await http.GetAsync(Catalog + "/products/two")).Json(HttpStatusCode.OK);
        await http.GetAsync(Catalog + "/products/Skirt_link").Problem(404, "does not exist");
        await http.GetAsync(Catalog + "/products/elsewhere_secret").Problem(404, "does not exist");
        await http.PostJson(Catalog + "/imports", new { folder = "other" }).Problem(422, "no import folder");
    }

    [Fact]
    public async Task An_import_interrupted_by_a_restart_resumes_where_it_was()
    {
        int fastRequests = 0;
        var release = new TaskCompletionSource();
        await using var fast = await LoopbackServer.StartAsync(app => app.MapGet("/{n:int}.jpg", (int n) =>
        {
            Interlocked.Increment(ref fastRequests);
            return Results.File(File.ReadAllBytes(Photo("Polo", n)), "image/jpeg");
        }));
        await using var held = await LoopbackServer.StartAsync(app => app.MapGet("/{n:int}.jpg", async (int n) =>
        {
            await release.Task;
            return Results.File(File.ReadAllBytes(Photo("Blazer", n)), "image/jpeg");
        }));
        var manifest = string.Concat(Enumerable.Range(0, 10).Select(i =>
            $"{{\"id\":\"polo-{i}\",\"image\":\"{fast.Urls.First()}/{i}.jpg\"}}\n")) +
            string.Concat(Enumerable.Range(0, 3).Select(i =>
            $"{{\"id\":\"blazer-{i}\",\"image\":\"{held.Urls.First()}/{i}.jpg\"}}\n"));
        var dataPath = TestPaths.NewTempDirectory("import-restart");
        string job;
        await using (var first = new ImportFactory { DataPath = dataPath })
        {
            var client = first.CreateClient();
            var encoder = new { model = "mobilenetv2-12-int8.onnx", output = "464_quantized" };
            await (await client.PutJson("/v1/catalogs/restart", new { encoder, metric = "cosine" }))
                .Json(HttpStatusCode.Created);
            var content = new StringContent(manifest, Encoding.UTF8, "application/x-ndjson");
            var r = await client.PostAsync("/v1/catalogs/restart/imports", content);
            await r.Json(HttpStatusCode.Accepted);
            job = r.Headers.Location!.ToString();
            Assert.True(await Eventually.HoldsAsync(async () =>
                N(await (await client.GetAsync(job)).Json(HttpStatusCode.OK), "written") == 10));
        }
        Assert.Equal(10, fastRequests);

        release.SetResult();
        await using var second = new ImportFactory { DataPath = dataPath };
        var again = second.CreateClient();
        JsonNode view = new JsonObject();
        Assert.True(await Eventually.HoldsAsync(async () =>
        {
            view = await (await again.GetAsync(job)).Json(HttpStatusCode.OK);
            return view["state"]!.GetValue<string>() == "completed";
        }, TimeSpan.FromSeconds(60)), view.ToJsonString());
        Assert.Equal((13, 0), (N(view, "written"), N(view, "failed")));
        Assert.Equal(10, fastRequests); // the rows done before the restart were not fetched again
        await (await again.GetAsync("/v1/catalogs/restart/products/blazer-2")).Json(HttpStatusCode.OK);
    }

    [Fact]
    public async Task The_cli_zips_a_folder_follows_the_import_and_reports_failed_rows()
    {
        var folder = TestPaths.NewTempDirectory("cli-import");
        Directory.CreateDirectory(Path.Combine(folder, "pics"));
        File.Copy(Photo("Top", 1), Path.Combine(folder, "pics", "top.jpg"));
        File.Copy(Photo("Hoodie", 1), Path.Combine(folder, "pics", "hoodie.jpg"));
        File.WriteAllText(Path.Combine(folder, "manifest.csv"), "id,image,restrict:category\n" +
            "cli-top,pics/top.jpg,Top\ncli-hoodie,pics/hoodie.jpg,Hoodie\ncli-none,pics/none.jpg,Top\n");
        var (console, output) = CliConsole();
        var errors = Path.Combine(folder, "errors.csv");
        Uri? asked = null;
        int exit = await Cli.CatalogsCommands.RunAsync(["import", "imports-test", folder, "--errors", errors,
            "--api", "http://127.0.0.1:5999/prefix"], console, api =>
            {
                asked = api;
                return factory.CreateClient();
            });
        Assert.Equal("http://127.0.0.1:5999/prefix/", asked?.ToString());
        Assert.True(exit == 2, output.ToString()); // some rows failed
        Assert.Contains("completed", output.ToString());
        Assert.Contains("3,cli-none,", File.ReadAllText(errors));
        var top = await (await http.GetAsync(Catalog + "/products/cli-top")).Json(HttpStatusCode.OK);
        Assert.Equal("Top", top["restricts"]![0]!["allowList"]![0]!.GetValue<string>());

        output.GetStringBuilder().Clear();
        exit = await Cli.CatalogsCommands.RunAsync(["import", "no-such-catalog", folder], console,
            _ => factory.CreateClient());
        Assert.Equal(1, exit);
        Assert.Contains("refused (404)", output.ToString());

        output.GetStringBuilder().Clear();
        exit = await Cli.CatalogsCommands.RunAsync(["import", "x", folder, "--api", "ftp://host/"], console);
        Assert.NotEqual(0, exit);
    }

    [Fact]
    public async Task Hosts_sharing_the_imports_path_see_each_others_jobs_and_take_over_when_one_stops()
    {
        int fastRequests = 0;
        var release = new TaskCompletionSource();
        await using var fast = await LoopbackServer.StartAsync(app => app.MapGet("/{n:int}.jpg", (int n) =>
        {
            Interlocked.Increment(ref fastRequests);
            return Results.File(File.ReadAllBytes(Photo("T-Shirt", n)), "image/jpeg");
        }));
        await using var held = await LoopbackServer.StartAsync(app => app.MapGet("/{n:int}.jpg", async (int n) =>
        {
            await release.Task;
            return Results.File(File.ReadAllBytes(Photo("Undershirt", n)), "image/jpeg");
        }));
        var manifest = "id,image\n" + string.Concat(Enumerable.Range(0, 5).Select(i =>
            $"tee-{i},{fast.Urls.First()}/{i}.jpg\n")) + string.Concat(Enumerable.Range(0, 3).Select(i =>
            $"under-{i},{held.Urls.First()}/{i}.jpg\n"));
        var shared = TestPaths.NewTempDirectory("shared-imports");
        var encoder = new { model = "mobilenetv2-12-int8.onnx", output = "464_quantized" };
        var first = new ImportFactory { ImportsPath = shared };
        await using var second = new ImportFactory { ImportsPath = shared };
        var a = first.CreateClient();
        var b = second.CreateClient();
        foreach (var client in new[] { a, b })
            await (await client.PutJson("/v1/catalogs/shared", new { encoder, metric = "cosine" }))
                .Json(HttpStatusCode.Created);
        var r = await a.PostAsync("/v1/catalogs/shared/imports", new StringContent(manifest, Encoding.UTF8,
            "text/csv"));
        await r.Json(HttpStatusCode.Accepted);
        var job = r.Headers.Location!.ToString();

        // B sees A's job and its progress (saved every second), and does not run it: A holds its lock.
        Assert.True(await Eventually.HoldsAsync(async () =>
            N(await (await b.GetAsync(job)).Json(HttpStatusCode.OK), "written") == 5));
        Assert.Single((await (await b.GetAsync("/v1/catalogs/shared/imports")).Json(HttpStatusCode.OK))["imports"]!
            .AsArray());
        await b.GetAsync("/v1/catalogs/shared/products/tee-0").Problem(404, "does not exist");

        await first.DisposeAsync(); // A stops with the job unfinished; B takes it over
        release.SetResult();
        JsonNode view = new JsonObject();
        Assert.True(await Eventually.HoldsAsync(async () =>
        {
            view = await (await b.GetAsync(job)).Json(HttpStatusCode.OK);
            return view["state"]!.GetValue<string>() == "completed";
        }, TimeSpan.FromSeconds(60)), view.ToJsonString());
        Assert.Equal((8, 0), (N(view, "written"), N(view, "failed")));
        Assert.Equal(5, fastRequests); // the rows A did were not done again
        await (await b.GetAsync("/v1/catalogs/shared/products/under-2")).Json(HttpStatusCode.OK);
    }

    [Fact]
    public async Task The_cli_evaluates_retrieval_on_a_labeled_folder_deterministically()
    {
        var folder = TestPaths.NewTempDirectory("eval");
        var labels = new StringBuilder("path,label\n");
        foreach (var label in new[] { "Dress", "Shoes", "Hat" })
        {
            Directory.CreateDirectory(Path.Combine(folder, label));
            for (int i = 10; i < 15; i++)
            {
                File.Copy(Photo(label, i), Path.Combine(folder, label, $"{i}.jpg"));
                labels.Append($"{label}/{i}.jpg,{label}\n");
            }
        }
        File.WriteAllText(Path.Combine(folder, "labels.csv"), labels.ToString());
        var config = Path.Combine(folder, "config.json");
        File.WriteAllText(config, "{\"encoder\":{\"model\":\"mobilenetv2-12-int8.onnx\",\"output\":" +
            "\"464_quantized\"},\"metric\":\"cosine\",\"index\":{\"kind\":\"exact\"}}");
        var (console, output) = CliConsole();
        async Task<string> EvalAsync(string into)
        {
            var dir = Path.Combine(folder, into);
            int exit = await Cli.CatalogsCommands.RunAsync(["eval", folder, "--catalog", "eval-test", "--config",
                config, "--leave-one-out", "--out", dir], console, _ => factory.CreateClient());
            Assert.True(exit == 0, output.ToString());
            Assert.Contains("| Shoes | 5 |", File.ReadAllText(Path.Combine(dir, "eval.md")));
            return File.ReadAllText(Path.Combine(dir, "eval.json"));
        }
        var first = await EvalAsync("one");
        var report = JsonNode.Parse(first)!["report"]!;
        Assert.Equal(15, report["queries"]!.GetValue<int>());
        Assert.Equal(3, report["classes"]!.AsArray().Count);
        // Dresses, shoes and hats are told apart far better than chance (4 of the 14 others share a query's label).
        Assert.True(report["precisionAt1"]!.GetValue<double>() > 0.6, first);
        Assert.Equal(first, await EvalAsync("two")); // the second run re-imports nothing and reports the same

        // The page: every query (fewer than the 24 samples) beside its 5 best matches, as embedded thumbnails,
        // marked correct exactly where the match has the query's label.
        var page = File.ReadAllText(Path.Combine(folder, "one", "eval.html"));
        int Count(string text) => (page.Length - page.Replace(text, "").Length) / text.Length;
        var samples = report["samples"]!.AsArray();
        Assert.Equal(15, samples.Count);
        int correct = samples.Sum(q => q!["top"]!.AsArray().Count(m =>
            m!["label"]!.GetValue<string>() == q["label"]!.GetValue<string>()));
        Assert.Equal(15, Count("<div class=\"query\">"));
        Assert.Equal(correct, Count("<figure class=\"correct\" "));
        Assert.Equal(75 - correct, Count("<figure class=\"wrong\" "));
        Assert.Equal(90, Count("<img src=\"data:image/jpeg;base64,"));
    }

    [Fact]
    public async Task The_cli_fits_heads_on_the_gallery_and_measures_them_on_the_queries()
    {
        var folder = TestPaths.NewTempDirectory("eval-heads");
        var labels = new StringBuilder("split,path,label\n"); // columns by name, in the food dataset's order
        foreach (var label in new[] { "Dress", "Shoes", "Hat" })
        {
            Directory.CreateDirectory(Path.Combine(folder, label));
            for (int i = 20; i < 27; i++)
            {
                File.Copy(Photo(label, i), Path.Combine(folder, label, $"{i}.jpg"));
                labels.Append($"{(i >= 25 ? "val" : "train")},{label}/{i}.jpg,{label}\n");
            }
        }
        File.WriteAllText(Path.Combine(folder, "labels.csv"), labels.ToString());
        var config = Path.Combine(folder, "config.json");
        File.WriteAllText(config, "{\"encoder\":{\"model\":\"mobilenetv2-12-int8.onnx\",\"output\":" +
            "\"464_quantized\"},\"metric\":\"cosine\",\"index\":{\"kind\":\"exact\"}}");
        var (console, output) = CliConsole();
        Task<int> Eval(params string[] more) => Cli.CatalogsCommands.RunAsync(["eval", folder, "--catalog",
            "eval-heads", "--config", config, "--out", Path.Combine(folder, "report"), .. more], console,
            _ => factory.CreateClient());

        Assert.NotEqual(0, await Eval("--heads", "lda", "--leave-one-out"));
        Assert.Contains("--heads, --lifts and --color-weights work on a gallery", output.ToString());
        Assert.NotEqual(0, await Eval("--color-weights", "1.5"));
        Assert.NotEqual(0, await Eval("--heads", "deep")); // not a head kind: a parse error
        Assert.NotEqual(0, await Eval("--heads", "lda", "--head-dimensions", "0"));

        Assert.True(await Eval("--heads", "lda", "trained", "--head-dimensions", "32", "--lifts", "qe", "dba",
            "--color-weights", "0.2", "1") == 0, output.ToString());
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "report", "eval.json")))!;
        Assert.Equal(6, json["report"]!["queries"]!.GetValue<int>());
        var heads = json["heads"]!.AsArray();
        Assert.Equal(["lda", "trained"], heads.Select(h => h!["kind"]!.ToString()));
        Assert.Equal([2, 32], heads.Select(h => h!["dimensions"]!.GetValue<int>())); // LDA: labels − 1
        Assert.All(heads, h => Assert.Equal(6, h!["report"]!["queries"]!.GetValue<int>()));
        Assert.NotNull(heads[1]!["bestEpoch"]);
        var md = File.ReadAllText(Path.Combine(folder, "report", "eval.md"));
        Assert.Contains("## Heads fitted on the gallery, measured on the queries", md);
        Assert.Contains("| lda | 2 |", md);
        Assert.Contains("| none (the encoder as it is) | 1280 |", md);
        // Each lift and both together, on the encoder's vectors and on each head's.
        var lifts = json["lifts"]!.AsArray();
        Assert.Equal(["none", "none", "none", "lda", "lda", "lda", "trained", "trained", "trained"],
            lifts.Select(l => l!["head"]!.ToString()));
        Assert.Equal("DBA (k 2, α 3) + αQE (k 2, α 3)", lifts[2]!["lift"]!.ToString());
        Assert.Contains("## Frozen-feature lifts", md);
        // Colour re-ranking on every embedding; at weight 1 colour alone ranks (a report unlike the encoder's).
        var colors = json["colors"]!.AsArray();
        Assert.Equal(6, colors.Count);
        Assert.Equal([0.2f, 1f], colors.Take(2).Select(c => c!["weight"]!.GetValue<float>()));
        Assert.NotEqual(json["report"]!["meanAveragePrecision"]!.GetValue<double>(),
            colors[1]!["report"]!["meanAveragePrecision"]!.GetValue<double>());
        Assert.Contains("## Colour re-ranking", md);

        // The same images' vectors of another catalog appended (here: its own again, so 2 × 1280).
        Assert.True(await Eval("--heads", "lda", "--concat-catalogs", "eval-heads") == 0, output.ToString());
        Assert.Contains("| none (the encoder as it is) | 2560 |",
            File.ReadAllText(Path.Combine(folder, "report", "eval.md")));
        Assert.NotEqual(0, await Eval("--concat-catalogs", "no-such-catalog"));
    }
}
