using System.IO.Compression;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace Catalogs.Cli;

/// <summary>
/// <c>catalogs import &lt;catalog&gt; &lt;folder|zip|manifest&gt;</c>: uploads the source (a folder is zipped into a
/// temporary file first, images stored as they are), follows the job with a progress bar, and ends with its counts
/// and its failed rows. Exit codes: 0 all imported, 2 some rows failed, 1 the import could not run; Ctrl+C cancels
/// the job on the server.
/// </summary>
sealed class ImportCommand(HttpClient http, IAnsiConsole console)
{
    public const int Ok = 0, Failed = 1, RowsFailed = 2;
    static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(500);

    public async Task<int> RunAsync(string catalog, string source, bool detach, string? errorsPath,
        CancellationToken ct)
    {
        string? temp = null;
        try
        {
            var (path, type) = Upload(source, ref temp);
            if (path is null)
            {
                console.MarkupLineInterpolated(
                    $"[red]{source} is not a folder, a .zip or a manifest (.csv, .jsonl).[/]");
                return Failed;
            }
            await using var file = File.OpenRead(path);
            var content = new StreamContent(file);
            content.Headers.ContentType = new MediaTypeHeaderValue(type);
            var name = Uri.EscapeDataString(Path.GetFileName(source.TrimEnd('/')) + (temp is null ? "" : ".zip"));
            using var response = await http.PostAsync($"v1/catalogs/{catalog}/imports?name={name}", content, ct);
            var body = await ReadAsync(response, ct);
            if (!response.IsSuccessStatusCode)
            {
                console.MarkupLineInterpolated(
                    $"[red]The import was refused ({(int)response.StatusCode}): {Detail(body)}[/]");
                return Failed;
            }
            var job = response.Headers.Location?.ToString().TrimStart('/')
                ?? $"v1/catalogs/{catalog}/imports/{body["id"]}";
            var id = body["id"]?.GetValue<string>();
            var total = body["total"]?.GetValue<int>();
            console.MarkupLineInterpolated($"Import [bold]{id}[/] of {source} into [bold]{catalog}[/]: {total} rows");
            if (detach) return Ok;
            var end = await FollowAsync(job, ct);
            return await ReportAsync(job, end, errorsPath, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            console.MarkupLine("[yellow]Cancelled.[/]");
            return Failed;
        }
        catch (HttpRequestException ex)
        {
            console.MarkupLineInterpolated($"[red]The API at {http.BaseAddress} cannot be reached: {ex.Message}[/]");
            return Failed;
        }
        finally
        {
            if (temp is not null) File.Delete(temp);
        }
    }

    static (string? Path, string Type) Upload(string source, ref string? temp)
    {
        if (Directory.Exists(source))
        {
            temp = Path.Combine(Path.GetTempPath(), $"catalogs-import-{Guid.NewGuid():N}.zip");
            // Photos are compressed already: stored as they are, the zip is made at disk speed.
            ZipFile.CreateFromDirectory(source, temp, CompressionLevel.NoCompression, includeBaseDirectory: false);
            return (temp, "application/zip");
        }
        if (!File.Exists(source)) return (null, "");
        return Path.GetExtension(source).ToLowerInvariant() switch
        {
            ".zip" => (source, "application/zip"),
            ".csv" => (source, "text/csv"),
            ".jsonl" or ".ndjson" => (source, "application/x-ndjson"),
            _ => (null, ""),
        };
    }

    async Task<JsonNode> FollowAsync(string job, CancellationToken ct)
    {
        JsonNode view = new JsonObject();
        try
        {
            await console.Progress().AutoClear(false).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(),
                new PercentageColumn(), new RemainingTimeColumn()).StartAsync(async progress =>
            {
                var task = progress.AddTask("queued");
                while (true)
                {
                    view = await ReadAsync(await http.GetAsync(job, ct), ct);
                    task.MaxValue = Math.Max(1, Int(view, "total"));
                    task.Value = Int(view, "done");
                    task.Description = $"{Int(view, "written")} written, {Int(view, "unchanged")} unchanged, " +
                        $"{Int(view, "failed")} failed" + (view["ratePerSecond"] is { } rate ? $", {rate}/s" : "");
                    if (view["state"]?.GetValue<string>() is not ("queued" or "running")) break;
                    await Task.Delay(Poll, ct);
                }
                task.StopTask();
            });
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Ctrl+C: the job stops on the server too (what was imported stays).
            await http.PostAsync($"{job}:cancel", null, CancellationToken.None);
            throw;
        }
        return view;
    }

    async Task<int> ReportAsync(string job, JsonNode view, string? errorsPath, CancellationToken ct)
    {
        var state = view["state"]?.GetValue<string>();
        var table = new Table().AddColumns("state", "rows", "written", "unchanged", "failed");
        table.AddRow(state ?? "?", $"{Int(view, "total")}", $"{Int(view, "written")}", $"{Int(view, "unchanged")}",
            $"{Int(view, "failed")}");
        console.Write(table);
        if (view["error"]?.GetValue<string>() is { } error) console.MarkupLineInterpolated($"[red]{error}[/]");
        if (Int(view, "failed") > 0)
        {
            var csv = await http.GetStringAsync($"{job}/errors", ct);
            if (errorsPath is not null)
            {
                await File.WriteAllTextAsync(errorsPath, csv, ct);
                console.MarkupLineInterpolated($"Failed rows written to {errorsPath}.");
            }
            else
            {
                var lines = csv.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                foreach (var line in lines.Skip(1).Take(10)) console.MarkupLineInterpolated($"[yellow]{line}[/]");
                if (lines.Length > 11)
                    console.MarkupLineInterpolated($"… and {lines.Length - 11} more (--errors FILE writes them all).");
            }
        }
        return state != "completed" ? Failed : Int(view, "failed") > 0 ? RowsFailed : Ok;
    }

    static int Int(JsonNode view, string name) => view[name]?.GetValue<int>() ?? 0;

    static string Detail(JsonNode body) => body["detail"]?.GetValue<string>() ?? body["title"]?.GetValue<string>()
        ?? body.ToJsonString();

    static async Task<JsonNode> ReadAsync(HttpResponseMessage response, CancellationToken ct)
    {
        var text = await response.Content.ReadAsStringAsync(ct);
        try
        {
            return JsonNode.Parse(text) ?? new JsonObject();
        }
        catch (JsonException)
        {
            return new JsonObject { ["detail"] = $"{(int)response.StatusCode} {text}" };
        }
    }
}
