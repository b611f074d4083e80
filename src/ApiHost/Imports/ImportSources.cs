using System.IO.Compression;
using Catalogs.ApiHost.Infrastructure;
using Catalogs.Grains;

namespace Catalogs.ApiHost.Imports;

/// <summary>A row's image could not be read from the archive or folder; the reason is the row's error.</summary>
public sealed class ImportRowException(string message) : Exception(message);

/// <summary>Where an import's rows and local images come from: an archive, a server-side folder, or a manifest
/// alone (image URLs only). Opening one checks it as a whole; its rows carry their own errors.</summary>
public interface IImportSource : IDisposable
{
    IReadOnlyList<ImportRow> Rows { get; }

    /// <summary>The bytes of an image named by a relative path; throws <see cref="ImportRowException"/>.</summary>
    Task<byte[]> ReadImageAsync(string path, CancellationToken cancellationToken);
}

public static class ImportSources
{
    static readonly string[] ImageExtensions = [".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"];

    public static bool IsUrl(string image) =>
        image.StartsWith("http://", StringComparison.OrdinalIgnoreCase)
        || image.StartsWith("https://", StringComparison.OrdinalIgnoreCase);

    /// <summary>A relative path made canonical ('/'-separated, no '.' segments), or why it is refused: absolute and
    /// drive paths and any '..' segment could reach outside the archive or folder.</summary>
    public static string? Canonical(string path, out string? refusal)
    {
        refusal = null;
        var p = path.Replace('\\', '/');
        if (p.StartsWith('/') || (p.Length >= 2 && p[1] == ':') || p.Contains('\0'))
            refusal = $"'{RequestValidator.Shorten(path)}' is an absolute path: paths are relative to the archive " +
                "or folder.";
        else if (p.Split('/').Any(s => s == ".."))
            refusal = $"'{RequestValidator.Shorten(path)}' leaves the archive or folder ('..').";
        return refusal is null ? string.Join('/', p.Split('/').Where(s => s.Length > 0 && s != ".")) : null;
    }

    /// <summary>Rows for images without a manifest: one per image file (sorted by path), its id the path without the
    /// extension ('/' → '_'), its top-level folder as restrict <c>folder</c>.</summary>
    public static List<ImportRow> RowsOfImages(IEnumerable<string> paths) =>
        paths.Where(p => ImageExtensions.Contains(Path.GetExtension(p).ToLowerInvariant()))
            .Order(StringComparer.Ordinal)
            .Select((p, i) =>
            {
                var id = Path.ChangeExtension(p, null).Replace('/', '_');
                var folder = p.Contains('/') ? p[..p.IndexOf('/')] : null;
                return new ImportRow(i + 1, id, p, new DatapointDto(id, null, null,
                    folder is null ? null : [new RestrictDto("folder", [folder], null)], null, null, null));
            }).ToList();

    internal static byte[] ReadBounded(Stream stream, long max, string what)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = stream.Read(chunk)) > 0)
        {
            if (buffer.Length + read > max)
                throw new ImportRowException($"{what} is larger than {max:N0} bytes (Imports:MaxImageBytes).");
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }
}

/// <summary>
/// A zip of images with an optional manifest (<c>manifest.csv</c> or <c>manifest.jsonl</c> at its root; without
/// one, every image is a product). Defences: entries with absolute, drive or '..' paths and symbolic links are never
/// read (rows naming them fail); the entry count, the declared total and each entry's size and compression ratio
/// are bounded, and reads stop at the size limit whatever the headers claim.
/// </summary>
public sealed class ZipImportSource : IImportSource
{
    readonly ZipArchive archive;
    readonly ImportOptions options;
    readonly Dictionary<string, ZipArchiveEntry> entries = new(StringComparer.Ordinal);
    readonly Dictionary<string, string> refused = new(StringComparer.Ordinal);
    readonly Lock reading = new(); // a ZipArchive reads one entry at a time

    public IReadOnlyList<ImportRow> Rows { get; }

    public ZipImportSource(string path, ImportOptions options)
    {
        this.options = options;
        try
        {
            archive = ZipFile.OpenRead(path);
        }
        catch (InvalidDataException ex)
        {
            throw CatalogRequestException.Invalid($"The upload is not a readable zip archive: {ex.Message}");
        }
        try
        {
            Rows = Open();
        }
        catch
        {
            archive.Dispose();
            throw;
        }
    }

    List<ImportRow> Open()
    {
        if (archive.Entries.Count > options.MaxEntries)
            throw CatalogRequestException.TooLarge($"The archive holds {archive.Entries.Count:N0} entries; at most " +
                $"{options.MaxEntries:N0} are taken (Imports:MaxEntries).");
        long total = archive.Entries.Sum(e => e.Length);
        if (total > options.MaxUncompressedBytes)
            throw CatalogRequestException.TooLarge($"The archive would unpack to {total:N0} bytes; at most " +
                $"{options.MaxUncompressedBytes:N0} are taken (Imports:MaxUncompressedBytes).");
        var unsafeEntries = new List<string>();
        foreach (var entry in archive.Entries)
        {
            if (entry.FullName.EndsWith('/')) continue; // a directory
            var name = ImportSources.Canonical(entry.FullName, out var refusal);
            const int SymbolicLink = 0xA000, FileType = 0xF000;
            if (name is not null && ((entry.ExternalAttributes >> 16) & FileType) == SymbolicLink)
                refusal = $"'{RequestValidator.Shorten(entry.FullName)}' is a symbolic link: links are not followed.";
            if (refusal is not null)
            {
                refused[entry.FullName.Replace('\\', '/')] = refusal;
                unsafeEntries.Add(entry.FullName);
            }
            else entries.TryAdd(name!, entry);
        }
        var manifest = entries.Keys.FirstOrDefault(k => !k.Contains('/')
            && k.StartsWith("manifest.", StringComparison.OrdinalIgnoreCase)
            && ImportManifest.FormatOf(k) is not null);
        if (manifest is null)
        {
            var rows = ImportSources.RowsOfImages(entries.Keys);
            // Unsafe entries are named in the errors, as the products they would have been.
            int images = rows.Count;
            rows.AddRange(unsafeEntries.Select((e, i) => ImportRow.Refused(images + i + 1, null,
                refused[e.Replace('\\', '/')])));
            return rows;
        }
        var file = entries[manifest];
        if (file.Length > options.MaxManifestBytes)
            throw CatalogRequestException.TooLarge($"{manifest} is {file.Length:N0} bytes; at most " +
                $"{options.MaxManifestBytes:N0} are taken (Imports:MaxManifestBytes).");
        using var stream = file.Open();
        var text = ReadManifest(stream, manifest);
        return ImportManifest.Read(new MemoryStream(text), ImportManifest.FormatOf(manifest)!.Value, options.MaxRows);
    }

    byte[] ReadManifest(Stream stream, string name)
    {
        try
        {
            return ImportSources.ReadBounded(stream, options.MaxManifestBytes, name);
        }
        catch (ImportRowException)
        {
            throw CatalogRequestException.TooLarge($"{name} is larger than {options.MaxManifestBytes:N0} bytes " +
                $"(Imports:MaxManifestBytes).");
        }
    }

    public Task<byte[]> ReadImageAsync(string path, CancellationToken cancellationToken)
    {
        var name = ImportSources.Canonical(path, out var refusal) ?? throw new ImportRowException(refusal!);
        if (refused.TryGetValue(path.Replace('\\', '/'), out var why)) throw new ImportRowException(why);
        if (!entries.TryGetValue(name, out var entry))
            throw new ImportRowException($"'{RequestValidator.Shorten(path)}' is not in the archive.");
        if (entry.Length > options.MaxImageBytes)
            throw new ImportRowException($"'{RequestValidator.Shorten(path)}' is {entry.Length:N0} bytes " +
                $"uncompressed; images may have {options.MaxImageBytes:N0} (Imports:MaxImageBytes).");
        if (entry.Length > 1 << 20 && entry.Length > (long)options.MaxCompressionRatio * entry.CompressedLength)
            throw new ImportRowException($"'{RequestValidator.Shorten(path)}' compresses {entry.Length /
                Math.Max(1, entry.CompressedLength):N0}:1; more than {options.MaxCompressionRatio}:1 is refused " +
                $"(Imports:MaxCompressionRatio).");
        lock (reading)
        {
            try
            {
                using var stream = entry.Open();
                return Task.FromResult(ImportSources.ReadBounded(stream, options.MaxImageBytes, $"'{path}'"));
            }
            catch (InvalidDataException ex)
            {
                throw new ImportRowException($"'{RequestValidator.Shorten(path)}' cannot be unpacked: {ex.Message}");
            }
        }
    }

    public void Dispose() => archive.Dispose();
}

/// <summary>A server-side folder the operator configured: its manifest (<c>manifest.csv</c>/<c>.jsonl</c> at its
/// root) or, without one, every image below it. Paths stay inside the folder and symbolic links are not
/// followed.</summary>
public sealed class FolderImportSource : IImportSource
{
    readonly string root;
    readonly ImportOptions options;

    public IReadOnlyList<ImportRow> Rows { get; }

    public FolderImportSource(string root, ImportOptions options)
    {
        this.root = Path.GetFullPath(root).TrimEnd('/');
        this.options = options;
        if (!Directory.Exists(this.root))
            throw CatalogRequestException.Invalid("The import folder does not exist on the server.");
        var manifest = Directory.EnumerateFiles(this.root).Select(Path.GetFileName).FirstOrDefault(n =>
            n!.StartsWith("manifest.", StringComparison.OrdinalIgnoreCase) && ImportManifest.FormatOf(n) is not null);
        if (manifest is null)
        {
            var files = new DirectoryInfo(this.root).EnumerateFiles("*", new EnumerationOptions
            {
                RecurseSubdirectories = true,
                AttributesToSkip = FileAttributes.ReparsePoint | FileAttributes.Hidden,
            });
            Rows = ImportSources.RowsOfImages(files.Select(f => Path.GetRelativePath(this.root, f.FullName)));
            return;
        }
        var info = new FileInfo(Path.Combine(this.root, manifest));
        if (info.Length > options.MaxManifestBytes)
            throw CatalogRequestException.TooLarge($"{manifest} is {info.Length:N0} bytes; at most " +
                $"{options.MaxManifestBytes:N0} are taken (Imports:MaxManifestBytes).");
        using var stream = info.OpenRead();
        Rows = ImportManifest.Read(stream, ImportManifest.FormatOf(manifest)!.Value, options.MaxRows);
    }

    public async Task<byte[]> ReadImageAsync(string path, CancellationToken cancellationToken)
    {
        var name = ImportSources.Canonical(path, out var refusal) ?? throw new ImportRowException(refusal!);
        var full = Path.GetFullPath(Path.Combine(root, name));
        if (!full.StartsWith(root + "/", StringComparison.Ordinal))
            throw new ImportRowException($"'{RequestValidator.Shorten(path)}' leaves the folder.");
        // No link anywhere on the way: a link inside the folder could point anywhere.
        for (var at = full; at.Length > root.Length; at = Path.GetDirectoryName(at)!)
            if (new FileInfo(at).LinkTarget is not null)
                throw new ImportRowException($"'{RequestValidator.Shorten(path)}' goes through a symbolic link: " +
                    "links are not followed.");
        var file = new FileInfo(full);
        if (!file.Exists) throw new ImportRowException($"'{RequestValidator.Shorten(path)}' is not in the folder.");
        if (file.Length > options.MaxImageBytes)
            throw new ImportRowException($"'{RequestValidator.Shorten(path)}' is {file.Length:N0} bytes; images may " +
                $"have {options.MaxImageBytes:N0} (Imports:MaxImageBytes).");
        return await File.ReadAllBytesAsync(full, cancellationToken);
    }

    public void Dispose() { }
}

/// <summary>A manifest uploaded alone: its images must be URLs (or its rows vectors).</summary>
public sealed class ManifestImportSource(IReadOnlyList<ImportRow> rows) : IImportSource
{
    public IReadOnlyList<ImportRow> Rows => rows;

    public Task<byte[]> ReadImageAsync(string path, CancellationToken cancellationToken) =>
        throw new ImportRowException($"'{RequestValidator.Shorten(path)}' is a path, but a manifest uploaded alone " +
            "can only name image URLs: upload a zip with the images and the manifest inside.");

    public void Dispose() { }
}
