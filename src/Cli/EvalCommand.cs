using System.IO.Compression;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Catalogs.Evaluation;
using Catalogs.Training;
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
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };
    const int SampleQueries = 24, SampleMatches = 5;

    public async Task<int> RunAsync(EvalOptions options, CancellationToken ct)
    {
        var (folder, catalog, configPath, leaveOneOut, output, heads, headDimensions, lifts, colorWeights,
            concat) = options;
        if ((heads.Count > 0 || lifts.Count > 0 || colorWeights.Count > 0) && leaveOneOut)
        {
            console.MarkupLine("[red]--heads, --lifts and --color-weights work on a gallery and its queries: not " +
                "with --leave-one-out.[/]");
            return ImportCommand.Failed;
        }
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
                    // A row that failed to import has none: not evaluated.
                    if (await VectorAsync(catalog, rows[i].Id, token) is { } vector)
                        vectors[i] = new LabeledVector(rows[i].Path, rows[i].Label, vector);
                }
                finally { task.Increment(1); }
            });
        });
        foreach (var other in concat)
            if (!await ConcatenateAsync(other, rows.Select(r => r.Id).ToArray(), vectors, ct))
                return ImportCommand.Failed;
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
        var fitted = FitHeads(heads, headDimensions, queries, gallery, ct);
        var headReports = fitted.Select(f => f.Report).ToArray();
        IReadOnlyList<(string, LabeledVector[], LabeledVector[])> embeddings = [("none", queries, gallery),
            .. fitted.Select(f => (Name(f.Report.Kind), f.Queries, f.Gallery))];
        var liftReports = Lift(lifts, embeddings);
        var colorReports = colorWeights.Count == 0 ? [] : ColorRanked(colorWeights, embeddings, folder, ct);
        Directory.CreateDirectory(output);
        await File.WriteAllTextAsync(Path.Combine(output, "eval.json"), JsonSerializer.Serialize(new
        {
            catalog,
            folder = Path.GetFileName(Path.GetFullPath(folder).TrimEnd('/')),
            method,
            report,
            heads = headReports,
            lifts = liftReports,
            colors = colorReports,
        }, Json), ct);
        await File.WriteAllTextAsync(Path.Combine(output, "eval.md"),
            Markdown(catalog, method, report, all[0].Vector.Length, headReports, liftReports, colorReports), ct);
        var ids = new Dictionary<string, string>(StringComparer.Ordinal); // a path listed twice: its first row
        foreach (var r in rows) ids.TryAdd(r.Path, r.Id);
        var page = await new EvalPage(http, catalog, ids).RenderAsync(method, report, ct);
        await File.WriteAllTextAsync(Path.Combine(output, "eval.html"), page, ct);
        var table = new Table().AddColumns("queries", "gallery", "P@1", "P@5", "P@10", "R@10", "mAP");
        table.AddRow($"{report.Queries}", $"{report.Gallery}", $"{report.PrecisionAt1:F3}",
            $"{report.PrecisionAt5:F3}", $"{report.PrecisionAt10:F3}", $"{report.RecallAt10:F3}",
            $"{report.MeanAveragePrecision:F3}");
        foreach (var h in headReports)
            table.AddRow($"{Name(h.Kind)} {h.Dimensions}-d", "", $"{h.Report.PrecisionAt1:F3}",
                $"{h.Report.PrecisionAt5:F3}", $"{h.Report.PrecisionAt10:F3}", $"{h.Report.RecallAt10:F3}",
                $"{h.Report.MeanAveragePrecision:F3}");
        foreach (var c in colorReports)
            table.AddRow($"{c.Head} + colour {c.Weight}", "", $"{c.Report.PrecisionAt1:F3}",
                $"{c.Report.PrecisionAt5:F3}", $"{c.Report.PrecisionAt10:F3}", $"{c.Report.RecallAt10:F3}",
                $"{c.Report.MeanAveragePrecision:F3}");
        foreach (var l in liftReports)
            table.AddRow($"{l.Head} + {l.Lift}", "", $"{l.Report.PrecisionAt1:F3}", $"{l.Report.PrecisionAt5:F3}",
                $"{l.Report.PrecisionAt10:F3}", $"{l.Report.RecallAt10:F3}", $"{l.Report.MeanAveragePrecision:F3}");
        console.Write(table);
        console.MarkupLineInterpolated($"Reports: {Path.Combine(output, "eval.md")}, eval.json, eval.html");
        return ImportCommand.Ok;
    }

    /// <summary>Fits each head on the gallery (labels of the gallery only: the queries stay unseen) and evaluates
    /// the queries against the gallery through it.</summary>
    IReadOnlyList<(HeadReport Report, LabeledVector[] Queries, LabeledVector[] Gallery)> FitHeads(
        IReadOnlyList<HeadKind> kinds, int dimensions, LabeledVector[] queries, LabeledVector[] gallery,
        CancellationToken ct)
    {
        var examples = gallery.Select(g => new LabeledExample(g.Key, g.Label, g.Vector)).ToArray();
        if (kinds.Count > 0 && HeadFitting.Refusal(examples) is { } refusal)
        {
            console.MarkupLineInterpolated($"[yellow]No heads fitted: {refusal}[/]");
            return [];
        }
        var reports = new List<(HeadReport, LabeledVector[], LabeledVector[])>();
        foreach (var kind in kinds)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            FittedHead fitted = null!;
            console.Progress().Start(progress =>
            {
                var task = progress.AddTask($"Fitting the {Name(kind)} head on {gallery.Length} gallery images",
                    maxValue: kind == HeadKind.Trained ? (new HeadTrainingOptions()).Epochs : 1);
                fitted = HeadFitting.Fit(examples, new HeadFitOptions(kind, dimensions),
                    e => task.Value = e.Epoch, ct);
                task.Value = task.MaxValue;
            });
            var seconds = clock.Elapsed.TotalSeconds;
            LabeledVector[] Map(LabeledVector[] items) =>
                items.Select(v => v with { Vector = fitted.Head.Apply(v.Vector) }).ToArray();
            var (mappedQueries, mappedGallery) = (Map(queries), Map(gallery));
            var report = RetrievalEvaluation.Evaluate(mappedQueries, mappedGallery);
            reports.Add((new HeadReport(kind, fitted.Head.OutputDimensions, Math.Round(seconds, 1),
                fitted.Training?.BestEpoch, fitted.Training?.ValidationPrecisionAt10, report with { Samples = [] }),
                mappedQueries, mappedGallery));
        }
        return reports;
    }

    /// <summary>Each requested lift (and both together) on each embedding: the encoder's and every head's.</summary>
    static IReadOnlyList<LiftReport> Lift(IReadOnlyList<FrozenLift> lifts,
        IReadOnlyList<(string Head, LabeledVector[] Queries, LabeledVector[] Gallery)> embeddings)
    {
        var variants = new List<FrozenLift[]>();
        foreach (var lift in lifts.Distinct().Order()) variants.Add([lift]);
        if (variants.Count == 2) variants.Add([FrozenLift.Dba, FrozenLift.Qe]);
        var reports = new List<LiftReport>();
        foreach (var (head, queries, gallery) in embeddings)
            foreach (var variant in variants)
            {
                // DBA first: the expanded query then reads the augmented gallery, as a deployment would.
                var g = variant.Contains(FrozenLift.Dba) ? FrozenFeatureLifts.AugmentDatabase(gallery) : gallery;
                var q = variant.Contains(FrozenLift.Qe) ? FrozenFeatureLifts.ExpandQueries(queries, g) : queries;
                reports.Add(new LiftReport(head, string.Join(" + ", variant.Select(v => v switch
                {
                    FrozenLift.Qe => "αQE (k 2, α 3)",
                    _ => "DBA (k 2, α 3)",
                })), RetrievalEvaluation.Evaluate(q, g) with { Samples = [] }));
            }
        return reports;
    }

    /// <summary>Appends to each image's vector (unit length) its vector in <paramref name="other"/> (unit length):
    /// a catalog into which an earlier run imported the same folder with another encoder, e.g. another layer. An
    /// image missing there is left out.</summary>
    async Task<bool> ConcatenateAsync(string other, string[] ids, LabeledVector?[] vectors, CancellationToken ct)
    {
        int missing = 0;
        var reading = new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct };
        await Parallel.ForAsync(0, ids.Length, reading, async (i, token) =>
        {
            if (vectors[i] is not { } v) return;
            if (await VectorAsync(other, ids[i], token) is not { } extra)
            {
                Interlocked.Increment(ref missing);
                vectors[i] = null;
                return;
            }
            vectors[i] = v with
            {
                Vector = [.. RetrievalEvaluation.Normalized(v.Vector), .. RetrievalEvaluation.Normalized(extra)],
            };
        });
        if (vectors.All(v => v is null))
        {
            console.MarkupLineInterpolated(
                $"[red]Catalog {other} holds none of these images: run eval on it first.[/]");
            return false;
        }
        if (missing > 0) console.MarkupLineInterpolated($"[yellow]{missing} images are missing from {other}.[/]");
        return true;
    }

    /// <summary>A product's vector as the API returns it; null when it has none or does not exist.</summary>
    async Task<float[]?> VectorAsync(string catalog, string id, CancellationToken ct)
    {
        using var response = await http.GetAsync($"v1/catalogs/{catalog}/products/{id}", ct);
        if (!response.IsSuccessStatusCode) return null;
        var product = await response.Content.ReadFromJsonAsync<JsonNode>(ct);
        var vector = product?["featureVector"]?.AsArray().Select(x => x!.GetValue<float>()).ToArray();
        return vector is { Length: > 0 } ? vector : null;
    }

    /// <summary>Each embedding's ranking re-ranked by colour at each weight: the colours computed from the image
    /// files exactly as the catalog computes them at ingest.</summary>
    static IReadOnlyList<ColorReport> ColorRanked(IReadOnlyList<float> weights,
        IReadOnlyList<(string Head, LabeledVector[] Queries, LabeledVector[] Gallery)> embeddings, string folder,
        CancellationToken ct)
    {
        var keys = embeddings[0].Queries.Concat(embeddings[0].Gallery).Select(v => v.Key).Distinct().ToArray();
        var colors = new System.Collections.Concurrent.ConcurrentDictionary<string, byte[]>(StringComparer.Ordinal);
        Parallel.ForEach(keys, new ParallelOptions { CancellationToken = ct }, key =>
            colors[key] = Imaging.ColorDescriptor.Compute(File.ReadAllBytes(Path.Combine(folder, key))));
        var reports = new List<ColorReport>();
        foreach (var (head, queries, gallery) in embeddings)
            foreach (var w in weights.Distinct().Order())
                reports.Add(new ColorReport(head, w, RetrievalEvaluation.Evaluate(queries, gallery,
                    rescore: (i, j, cosine) => 1 - ((1 - w) * (1 - cosine) + w * Imaging.ColorDescriptor.Distance(
                        colors[queries[i].Key], colors[gallery[j].Key]))) with
                { Samples = [] }));
        return reports;
    }

    static string Name(HeadKind kind) => JsonNamingPolicy.CamelCase.ConvertName(kind.ToString());

    static string Markdown(string catalog, string method, RetrievalReport r, int dimensions,
        IReadOnlyList<HeadReport> heads, IReadOnlyList<LiftReport> lifts, IReadOnlyList<ColorReport> colors)
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
        if (heads.Count > 0)
        {
            md.Append("\n## Heads fitted on the gallery, measured on the queries\n\n| head | dimensions | " +
                "fit (s) | P@1 | P@5 | P@10 | R@10 | mAP |\n|---|---|---|---|---|---|---|---|\n");
            md.Append($"| none (the encoder as it is) | {dimensions} | | {r.PrecisionAt1:F3} | " +
                $"{r.PrecisionAt5:F3} | {r.PrecisionAt10:F3} | {r.RecallAt10:F3} | {r.MeanAveragePrecision:F3} |\n");
            foreach (var h in heads)
                md.Append($"| {Name(h.Kind)}{(h.BestEpoch is { } e ? $" (best epoch {e})" : "")} | " +
                    $"{h.Dimensions} | {h.FitSeconds} | {h.Report.PrecisionAt1:F3} | {h.Report.PrecisionAt5:F3} | " +
                    $"{h.Report.PrecisionAt10:F3} | {h.Report.RecallAt10:F3} | {h.Report.MeanAveragePrecision:F3} |\n");
        }
        if (lifts.Count > 0)
        {
            md.Append("\n## Frozen-feature lifts\n\n| head | lift | P@1 | P@5 | P@10 | R@10 | mAP |\n" +
                "|---|---|---|---|---|---|---|\n");
            foreach (var l in lifts)
                md.Append($"| {l.Head} | {l.Lift} | {l.Report.PrecisionAt1:F3} | {l.Report.PrecisionAt5:F3} | " +
                    $"{l.Report.PrecisionAt10:F3} | {l.Report.RecallAt10:F3} | {l.Report.MeanAveragePrecision:F3} |\n");
        }
        if (colors.Count > 0)
        {
            md.Append("\n## Colour re-ranking (each query's 50 best matches)\n\n| head | colour weight | P@1 | P@5 | " +
                "P@10 | R@10 | mAP |\n|---|---|---|---|---|---|---|\n");
            foreach (var c in colors)
                md.Append($"| {c.Head} | {c.Weight} | {c.Report.PrecisionAt1:F3} | {c.Report.PrecisionAt5:F3} | " +
                    $"{c.Report.PrecisionAt10:F3} | {c.Report.RecallAt10:F3} | {c.Report.MeanAveragePrecision:F3} |\n");
            // Where colour helps and where it hurts: per class, the encoder alone against its best colour weight.
            var best = colors.Where(c => c.Head == "none").MaxBy(c => c.Report.PrecisionAt10)!;
            var before = r.Classes.ToDictionary(c => c.Label, StringComparer.Ordinal);
            var deltas = best.Report.Classes.Select(c => (c.Label, Gain: c.PrecisionAt10 -
                before[c.Label].PrecisionAt10)).OrderByDescending(d => d.Gain).ToArray();
            md.Append($"\nPer class at colour weight {best.Weight} (P@10 change against the encoder alone): most " +
                "helped " + string.Join(", ", deltas.Take(8).Select(d => $"{d.Label} {d.Gain:+0.000;-0.000}")) +
                "; most hurt " + string.Join(", ", deltas.Reverse().Take(5).Select(d =>
                    $"{d.Label} {d.Gain:+0.000;-0.000}")) + ".\n");
        }
        return md.ToString();
    }
}

/// <summary>What <c>catalogs eval</c> was asked to do.</summary>
sealed record EvalOptions(string Folder, string Catalog, string? ConfigPath, bool LeaveOneOut, string Output,
    IReadOnlyList<HeadKind> Heads, int HeadDimensions, IReadOnlyList<FrozenLift> Lifts,
    IReadOnlyList<float> ColorWeights, IReadOnlyList<string> ConcatCatalogs);

/// <summary>Retrieval through one embedding re-ranked by colour at one weight.</summary>
sealed record ColorReport(string Head, float Weight, RetrievalReport Report);

/// <summary>A lift of frozen features (<see cref="FrozenFeatureLifts"/>).</summary>
enum FrozenLift { Dba, Qe }

/// <summary>Retrieval through one embedding (the encoder's: "none", or a head's) with a lift applied.</summary>
sealed record LiftReport(string Head, string Lift, RetrievalReport Report);

/// <summary>A head fitted on the gallery and the queries' retrieval through it.</summary>
sealed record HeadReport(HeadKind Kind, int Dimensions, double FitSeconds, int? BestEpoch,
    double? ValidationPrecisionAt10, RetrievalReport Report);
