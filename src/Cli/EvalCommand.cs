using System.IO.Compression;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Catalogs.Evaluation;
using Spectre.Console;

namespace Catalogs.Cli;

/// <summary>
/// <c>catalogs eval &lt;folder&gt; --catalog c</c>: measures how well a catalog's encoder retrieves a labeled image
/// folder (<c>labels.csv</c>: path,label[,split]). The images go into the catalog through a bulk import (so they are
/// embedded exactly as products are), their vectors come back through the API, and retrieval is evaluated
/// exhaustively here: rows split <c>val</c>/<c>test</c>/<c>query</c> query the rest; without a split column a
/// deterministic hash split (20 % queries) or, with <c>--leave-one-out</c>, every image queries all others.
/// Writes <c>eval.json</c>, <c>eval.md</c> and <c>eval.html</c> (sample queries with their best matches as
/// thumbnails from the catalog's image store, correct ones marked; the page holds its images, so it can be sent on).
/// </summary>
sealed class EvalCommand(HttpClient http, IAnsiConsole console)
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };
    const int SampleQueries = 24, SampleMatches = 5;

    public async Task<int> RunAsync(string folder, string catalog, string? configPath, bool leaveOneOut,
        string output, CancellationToken ct)
    {
        var labels = Path.Combine(folder, "labels.csv");
        if (!File.Exists(labels))
        {
            console.MarkupLineInterpolated($"[red]{labels} is missing (path,label[,split]).[/]");
            return ImportCommand.Failed;
        }
        // Columns by their header names, in any order (the food dataset's are path,split,label,…).
        var header = File.ReadLines(labels).FirstOrDefault()?.Split(',').Select(h => h.Trim().ToLowerInvariant())
            .ToList() ?? [];
        int pathColumn = header.IndexOf("path"), labelColumn = header.IndexOf("label"),
            splitColumn = header.IndexOf("split");
        if (pathColumn < 0 || labelColumn < 0)
        {
            console.MarkupLineInterpolated($"[red]{labels} needs a header naming path and label (and split).[/]");
            return ImportCommand.Failed;
        }
        int width = Math.Max(pathColumn, labelColumn) + 1;
        var rows = File.ReadLines(labels).Skip(1).Select(l => l.Split(',')).Where(r => r.Length >= width)
            .Select((r, i) => (Id: $"eval-{i}", Path: r[pathColumn].Trim(), Label: r[labelColumn].Trim(),
                Split: splitColumn >= 0 && splitColumn < r.Length ? r[splitColumn].Trim().ToLowerInvariant()
                    : null)).ToArray();
        if (configPath is not null)
        {
            var config = new StringContent(await File.ReadAllTextAsync(configPath, ct), Encoding.UTF8,
                "application/json");
            using var put = await http.PutAsync($"v1/catalogs/{catalog}", config, ct);
            if (!put.IsSuccessStatusCode)
            {
                var body = await put.Content.ReadAsStringAsync(ct);
                var status = (int)put.StatusCode;
                console.MarkupLineInterpolated($"[red]The catalog config was refused ({status}): {body}[/]");
                return ImportCommand.Failed;
            }
        }
        var zip = Path.Combine(Path.GetTempPath(), $"catalogs-eval-{Guid.NewGuid():N}.zip");
        try
        {
            using (var archive = ZipFile.Open(zip, ZipArchiveMode.Create))
            {
                var manifest = new StringBuilder("id,image,restrict:label\n");
                foreach (var r in rows)
                {
                    archive.CreateEntryFromFile(Path.Combine(folder, r.Path), r.Path, CompressionLevel.NoCompression);
                    manifest.Append($"{r.Id},\"{r.Path.Replace("\"", "\"\"")}\",\"{r.Label.Replace("\"", "\"\"")}\"\n");
                }
                await using var m = new StreamWriter(archive.CreateEntry("manifest.csv").Open());
                await m.WriteAsync(manifest, ct);
            }
            int imported = await new ImportCommand(http, console).RunAsync(catalog, zip, false, null, ct);
            if (imported == ImportCommand.Failed) return ImportCommand.Failed;
        }
        finally
        {
            File.Delete(zip);
        }
        var vectors = new LabeledVector?[rows.Length];
        var reading = new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct };
        await console.Progress().StartAsync(async progress =>
        {
            var task = progress.AddTask("Reading the vectors back", maxValue: rows.Length);
            await Parallel.ForAsync(0, rows.Length, reading, async (i, token) =>
            {
                try
                {
                    using var response = await http.GetAsync($"v1/catalogs/{catalog}/products/{rows[i].Id}", token);
                    if (!response.IsSuccessStatusCode) return; // its row failed to import: not evaluated
                    var product = await response.Content.ReadFromJsonAsync<JsonNode>(token);
                    var vector = product?["featureVector"]?.AsArray().Select(x => x!.GetValue<float>()).ToArray();
                    if (vector is { Length: > 0 })
                        vectors[i] = new LabeledVector(rows[i].Path, rows[i].Label, vector);
                }
                finally { task.Increment(1); }
            });
        });
        var all = vectors.OfType<LabeledVector>().ToArray();
        var splits = rows.Where((_, i) => vectors[i] is not null).Select(r => r.Split).ToArray();
        LabeledVector[] queries, gallery;
        string method;
        if (leaveOneOut)
            (queries, gallery, method) = (all, all, "leave-one-out (every image against all others)");
        else if (splits.Any(s => s is not null))
        {
            bool IsQuery(string? s) => s is "val" or "test" or "query";
            queries = all.Where((_, i) => IsQuery(splits[i])).ToArray();
            gallery = all.Where((_, i) => !IsQuery(splits[i])).ToArray();
            method = "labels.csv's split: val/test/query rows against the others";
        }
        else
        {
            queries = all.Where(v => RetrievalEvaluation.IsQuery(v.Key)).ToArray();
            gallery = all.Where(v => !RetrievalEvaluation.IsQuery(v.Key)).ToArray();
            method = "hash split: XxHash64(path) % 100 < 20 queries the rest";
        }
        if (queries.Length == 0 || gallery.Length == 0)
        {
            console.MarkupLine("[red]The split leaves no queries or no gallery: use --leave-one-out.[/]");
            return ImportCommand.Failed;
        }
        var report = RetrievalEvaluation.Evaluate(queries, gallery, leaveOneOut, samples: SampleQueries,
            sampleTop: SampleMatches);
        Directory.CreateDirectory(output);
        await File.WriteAllTextAsync(Path.Combine(output, "eval.json"), JsonSerializer.Serialize(new
        {
            catalog,
            folder = Path.GetFileName(Path.GetFullPath(folder).TrimEnd('/')),
            method,
            report,
        }, Json), ct);
        await File.WriteAllTextAsync(Path.Combine(output, "eval.md"), Markdown(catalog, method, report), ct);
        var ids = new Dictionary<string, string>(StringComparer.Ordinal); // a path listed twice: its first row
        foreach (var r in rows) ids.TryAdd(r.Path, r.Id);
        var page = await new EvalPage(http, catalog, ids).RenderAsync(method, report, ct);
        await File.WriteAllTextAsync(Path.Combine(output, "eval.html"), page, ct);
        var table = new Table().AddColumns("queries", "gallery", "P@1", "P@5", "P@10", "R@10", "mAP");
        table.AddRow($"{report.Queries}", $"{report.Gallery}", $"{report.PrecisionAt1:F3}",
            $"{report.PrecisionAt5:F3}", $"{report.PrecisionAt10:F3}", $"{report.RecallAt10:F3}",
            $"{report.MeanAveragePrecision:F3}");
        console.Write(table);
        console.MarkupLineInterpolated($"Reports: {Path.Combine(output, "eval.md")}, eval.json, eval.html");
        return ImportCommand.Ok;
    }

    static string Markdown(string catalog, string method, RetrievalReport r)
    {
        var md = new StringBuilder($"# Retrieval quality of catalog `{catalog}`\n\n{method}; {r.Queries} queries, " +
            $"{r.Gallery} gallery images, exhaustive cosine ranking.\n\n");
        md.Append("| P@1 | P@5 | P@10 | R@10 | mAP |\n|---|---|---|---|---|\n");
        md.Append($"| {r.PrecisionAt1:F3} | {r.PrecisionAt5:F3} | {r.PrecisionAt10:F3} | {r.RecallAt10:F3} | " +
            $"{r.MeanAveragePrecision:F3} |\n\n## Per class\n\n| class | queries | P@1 | P@10 | mAP |\n" +
            "|---|---|---|---|---|\n");
        foreach (var c in r.Classes)
            md.Append($"| {c.Label} | {c.Queries} | {c.PrecisionAt1:F3} | {c.PrecisionAt10:F3} | " +
                $"{c.MeanAveragePrecision:F3} |\n");
        md.Append("\n## Most confused (query class → class of its best match)\n\n| query | matched | queries |\n" +
            "|---|---|---|\n");
        foreach (var c in r.Confusions) md.Append($"| {c.QueryLabel} | {c.MatchedLabel} | {c.Queries} |\n");
        return md.ToString();
    }
}
