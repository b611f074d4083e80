using System.Net;
using System.Text;
using Catalogs.Evaluation;

namespace Catalogs.Cli;

/// <summary>The evaluation as a page a merchandiser reads: the scores, then each sample query beside its best
/// matches, green when a match has the query's label and red when not. Thumbnails come from the catalog (the
/// images were imported as products) and are embedded, so the page stands alone.</summary>
sealed class EvalPage(HttpClient http, string catalog, IReadOnlyDictionary<string, string> productIds)
{
    const int ThumbnailSize = 128;

    public async Task<string> RenderAsync(string method, RetrievalReport report, CancellationToken ct)
    {
        var keys = report.Samples.SelectMany(s => s.Top.Select(m => m.Key).Prepend(s.Key)).Distinct().ToArray();
        var thumbnails = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var key in keys) thumbnails[key] = await ThumbnailAsync(key, ct);
        static string H(string text) => WebUtility.HtmlEncode(text);
        var html = new StringBuilder($$"""
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>Retrieval quality of {{H(catalog)}}</title>
            <style>
            body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
            table.scores td, table.scores th { padding: .2rem .6rem; text-align: right; }
            .query { display: flex; gap: .5rem; align-items: flex-start; margin: .8rem 0; }
            figure { margin: 0; width: 8.5rem; font-size: .75rem; overflow-wrap: anywhere; }
            figure img { width: 8rem; height: 8rem; object-fit: cover; border: 4px solid #ccc; display: block; }
            figure.asked img { border-color: #333; }
            figure.correct img { border-color: #2a8a3a; }
            figure.wrong img { border-color: #c0392b; }
            </style></head><body>
            <h1>Retrieval quality of catalog <code>{{H(catalog)}}</code></h1>
            <p>{{H(method)}}; {{report.Queries}} queries, {{report.Gallery}} gallery images.</p>
            <table class="scores"><tr><th>P@1</th><th>P@5</th><th>P@10</th><th>R@10</th><th>mAP</th></tr>
            <tr><td>{{report.PrecisionAt1:F3}}</td><td>{{report.PrecisionAt5:F3}}</td>
            <td>{{report.PrecisionAt10:F3}}</td><td>{{report.RecallAt10:F3}}</td>
            <td>{{report.MeanAveragePrecision:F3}}</td></tr></table>
            <h2>Sample queries and their best matches</h2>

            """);
        foreach (var sample in report.Samples)
        {
            html.Append("<div class=\"query\">").Append(Figure("asked", sample.Key, sample.Label, null));
            foreach (var match in sample.Top)
                html.Append(Figure(match.Label == sample.Label ? "correct" : "wrong", match.Key, match.Label,
                    match.Score));
            html.Append("</div>\n");
        }
        return html.Append("</body></html>\n").ToString();

        string Figure(string kind, string key, string label, float? score)
        {
            var mark = kind switch { "correct" => "✓ ", "wrong" => "✗ ", _ => "query: " };
            var image = thumbnails[key] is { } data ? $"<img src=\"{data}\" alt=\"{H(key)}\">" : "";
            var similarity = score is { } v ? $" · {v:F3}" : "";
            return $"<figure class=\"{kind}\" title=\"{H(key)}\">{image}<figcaption>{mark}{H(label)}{similarity}" +
                $"<br>{H(Path.GetFileName(key))}</figcaption></figure>";
        }
    }

    /// <summary>The product's thumbnail as a data URI; null when the catalog has no image for it.</summary>
    async Task<string?> ThumbnailAsync(string key, CancellationToken ct)
    {
        if (!productIds.TryGetValue(key, out var id)) return null;
        using var response = await http.GetAsync(
            $"v1/catalogs/{catalog}/products/{Uri.EscapeDataString(id)}/image?size={ThumbnailSize}", ct);
        if (!response.IsSuccessStatusCode) return null;
        var type = response.Content.Headers.ContentType?.MediaType ?? "image/jpeg";
        return $"data:{type};base64,{Convert.ToBase64String(await response.Content.ReadAsByteArrayAsync(ct))}";
    }
}
