using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Catalogs.ApiHost.Infrastructure;
using Catalogs.Grains;
using nietras.SeparatedValues;

namespace Catalogs.ApiHost.Imports;

/// <summary>One product of an import: its id, where its image is (a path in the archive or folder, or a URL), and
/// its datapoint fields; or why the row cannot be read.</summary>
public sealed record ImportRow(int Number, string? Id, string? Image, DatapointDto? Datapoint, string? Error = null)
{
    public static ImportRow Refused(int number, string? id, string error) => new(number, id, null, null, error);
}

public enum ManifestFormat
{
    Csv,
    Jsonl,
}

/// <summary>
/// Reads import manifests. CSV: a header with <c>id</c> and <c>image</c> (path or URL) and optionally
/// <c>crowdingTag</c>, <c>restrict:&lt;namespace&gt;</c> (tokens separated by <c>|</c>, a leading <c>!</c> denies),
/// <c>numeric:&lt;namespace&gt;</c> (a number), <c>attr:&lt;name&gt;</c> (a string attribute) and <c>attributes</c> (a
/// JSON object). JSONL: one datapoint per line as the API takes it, with <c>image</c> for its image (or
/// <c>featureVector</c>). A row that cannot be read becomes a refused row; the rest import.
/// </summary>
public static class ImportManifest
{
    public const string CsvColumns = "id, image, crowdingTag, attributes, restrict:<namespace>, " +
        "numeric:<namespace>, attr:<name>";

    public static ManifestFormat? FormatOf(string name) =>
        System.IO.Path.GetExtension(name).ToLowerInvariant() switch
        {
            ".csv" => ManifestFormat.Csv,
            ".jsonl" or ".ndjson" => ManifestFormat.Jsonl,
            _ => null,
        };

    /// <summary>The rows, numbered from 1 (the first product); duplicate ids refused after their first row. Throws
    /// <see cref="CatalogRequestException"/> when the manifest as a whole cannot be read (no header, unknown
    /// columns, too many rows).</summary>
    public static List<ImportRow> Read(Stream manifest, ManifestFormat format, int maxRows)
    {
        var rows = format == ManifestFormat.Csv ? ReadCsv(manifest, maxRows) : ReadJsonl(manifest, maxRows);
        var first = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < rows.Count; i++)
        {
            if (rows[i] is not { Error: null, Id: { } id } row) continue;
            if (!first.TryAdd(id, row.Number))
                rows[i] = ImportRow.Refused(row.Number, id, $"id '{RequestValidator.Shorten(id)}' appears already " +
                    $"in row {first[id]}.");
        }
        return rows;
    }

    static List<ImportRow> ReadCsv(Stream manifest, int maxRows)
    {
        using var reader = Sep.New(',').Reader(o => o with { Unescape = true, DisableColCountCheck = true })
            .From(manifest);
        var columns = reader.Header.ColNames.Select(c => c.Trim()).ToArray();
        if (!columns.Contains("id") || !columns.Contains("image"))
            throw CatalogRequestException.Malformed($"The CSV manifest needs a header with 'id' and 'image' columns " +
                $"(columns: {CsvColumns}); it has: {RequestValidator.Shorten(string.Join(", ", columns))}.");
        var unknown = columns.Where(c => !KnownColumn(c)).ToArray();
        if (unknown.Length > 0)
            throw CatalogRequestException.Malformed($"The CSV manifest has unknown columns: " +
                $"{RequestValidator.Shorten(string.Join(", ", unknown))}. Columns: {CsvColumns}.");
        var rows = new List<ImportRow>();
        foreach (var row in reader)
        {
            int number = rows.Count + 1;
            if (number > maxRows) throw TooManyRows(maxRows);
            var cells = new string[row.ColCount];
            for (int c = 0; c < cells.Length; c++) cells[c] = row[c].ToString();
            rows.Add(cells.Length != columns.Length
                ? ImportRow.Refused(number, null, $"It has {cells.Length} fields; the header has {columns.Length}.")
                : CsvRow(number, columns, cells));
        }
        return rows;
    }

    static bool KnownColumn(string c) => c is "id" or "image" or "crowdingTag" or "attributes"
        || (c.StartsWith("restrict:", StringComparison.Ordinal) && c.Length > 9)
        || (c.StartsWith("numeric:", StringComparison.Ordinal) && c.Length > 8)
        || (c.StartsWith("attr:", StringComparison.Ordinal) && c.Length > 5);

    static ImportRow CsvRow(int number, string[] columns, string[] cells)
    {
        string? id = null, image = null, crowding = null;
        var restricts = new List<RestrictDto>();
        var numeric = new List<NumericRestrictDto>();
        var attributes = new JsonObject();
        try
        {
            for (int c = 0; c < columns.Length; c++)
            {
                var (column, cell) = (columns[c], cells[c].Trim());
                if (cell.Length == 0) continue;
                switch (column)
                {
                    case "id": id = cell; break;
                    case "image": image = cell; break;
                    case "crowdingTag": crowding = cell; break;
                    case "attributes":
                        foreach (var (k, v) in JsonNode.Parse(cell) as JsonObject
                            ?? throw new FormatException("attributes is not a JSON object"))
                            attributes[k] = v?.DeepClone();
                        break;
                    default:
                        var (kind, name) = (column[..column.IndexOf(':')], column[(column.IndexOf(':') + 1)..]);
                        if (kind == "restrict")
                        {
                            var tokens = cell.Split('|',
                                StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
                            restricts.Add(new RestrictDto(name, tokens.Where(t => t[0] != '!').ToArray(),
                                tokens.Where(t => t[0] == '!').Select(t => t[1..]).ToArray()));
                        }
                        else if (kind == "numeric") numeric.Add(Number(name, cell));
                        else attributes[name] = cell;
                        break;
                }
            }
        }
        catch (Exception ex) when (ex is FormatException or JsonException)
        {
            return ImportRow.Refused(number, id, ex.Message);
        }
        if (id is null) return ImportRow.Refused(number, null, "id is empty.");
        if (image is null) return ImportRow.Refused(number, id, "image is empty: give a path or an http(s) URL.");
        return new ImportRow(number, id, image, new DatapointDto(id, null, null, restricts.ToArray(),
            numeric.ToArray(), crowding is null ? null : new CrowdingTagDto(crowding),
            attributes.Count > 0 ? attributes : null));
    }

    static NumericRestrictDto Number(string name, string cell) =>
        long.TryParse(cell, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var whole)
            ? new NumericRestrictDto(name, whole, null, null, null)
            : double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out var real)
                && double.IsFinite(real)
                ? new NumericRestrictDto(name, null, null, real, null)
                : throw new FormatException($"numeric:{name} '{RequestValidator.Shorten(cell)}' is not a number.");

    static List<ImportRow> ReadJsonl(Stream manifest, int maxRows)
    {
        using var reader = new StreamReader(manifest, Encoding.UTF8);
        var rows = new List<ImportRow>();
        while (reader.ReadLine() is { } line)
        {
            if (line.Trim().Length == 0) continue;
            int number = rows.Count + 1;
            if (number > maxRows) throw TooManyRows(maxRows);
            rows.Add(JsonlRow(number, line));
        }
        return rows;
    }

    static ImportRow JsonlRow(int number, string line)
    {
        string? id = null;
        try
        {
            if (JsonNode.Parse(line) is not JsonObject json)
                return ImportRow.Refused(number, null, "It is not a JSON object.");
            string? image = json["image"]?.GetValue<string>();
            json.Remove("image");
            var dto = RequestReader.ParseJson<DatapointDto>(json.ToJsonString(), $"Row {number}");
            id = RequestValidator.IdOf(dto);
            if (id is null) return ImportRow.Refused(number, null, "id is missing.");
            if (image is not null && (dto.ImageUrl is not null || RequestValidator.VectorOf(dto) is not null))
                return ImportRow.Refused(number, id, "Give one of image, imageUrl and featureVector.");
            image ??= dto.ImageUrl;
            if (image is null && RequestValidator.VectorOf(dto) is null)
                return ImportRow.Refused(number, id, "image is missing: give a path or URL (or a featureVector).");
            return new ImportRow(number, id, image, dto with { ImageUrl = null });
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or CatalogRequestException)
        {
            return ImportRow.Refused(number, id, ex.Message);
        }
    }

    static CatalogRequestException TooManyRows(int max) =>
        CatalogRequestException.TooLarge($"The manifest has more than {max:N0} rows (Imports:MaxRows).");
}
