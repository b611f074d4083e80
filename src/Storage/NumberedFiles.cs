using System.Globalization;

namespace Catalogs.Storage;

/// <summary>Files named <c>{prefix}{20-digit number}{suffix}</c> (log segments, snapshots), ordered by
/// number.</summary>
static class NumberedFiles
{
    public static string Name(string directory, string prefix, long number, string suffix) =>
        Path.Combine(directory, prefix + number.ToString("D20", CultureInfo.InvariantCulture) + suffix);

    public static List<(long Number, string Path)> List(string directory, string prefix, string suffix) =>
        Directory.EnumerateFiles(directory, prefix + "*" + suffix)
            .Select(path => (Name: Path.GetFileName(path), Path: path))
            .Select(x => (Ok: long.TryParse(x.Name.AsSpan(prefix.Length, x.Name.Length - prefix.Length - suffix.Length),
                NumberStyles.None, CultureInfo.InvariantCulture, out var n), Number: n, x.Path))
            .Where(x => x.Ok)
            .OrderBy(x => x.Number)
            .Select(x => (x.Number, x.Path))
            .ToList();
}
