using System.Reflection;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Catalogs.Encoders;

/// <summary>Where models are looked for and fetched from.</summary>
/// <param name="SearchPaths">Folders searched in order (default: <c>$CATALOGS_MODELS</c>, <c>./models</c>,
/// <c>../shared/models</c>).</param>
/// <param name="DownloadDirectory">Where a downloaded model is stored (default <c>./models</c>).</param>
/// <param name="Sources">Model file name → upstream URL (default: the embedded <c>models/SOURCES</c>).</param>
/// <param name="Checksums">Model file name → SHA-256 hex (default: the embedded <c>models/SHA256SUMS</c>).</param>
public sealed record ModelResolverOptions(
    IReadOnlyList<string>? SearchPaths = null,
    string? DownloadDirectory = null,
    IReadOnlyDictionary<string, Uri>? Sources = null,
    IReadOnlyDictionary<string, string>? Checksums = null);

/// <summary>
/// Finds a model file by name in the configured folders; when none has it and its upstream address is known,
/// downloads it, verifies its SHA-256 and only then moves it into place.
/// </summary>
public sealed partial class ModelResolver(HttpClient http, ModelResolverOptions? options = null,
    ILogger<ModelResolver>? logger = null)
{
    readonly ILogger log = logger ?? NullLogger<ModelResolver>.Instance;
    readonly SemaphoreSlim downloads = new(1, 1);
    readonly IReadOnlyList<string> searchPaths = options?.SearchPaths ?? DefaultSearchPaths();
    readonly string downloadDirectory = options?.DownloadDirectory ?? Path.GetFullPath("models");
    readonly IReadOnlyDictionary<string, Uri> sources = options?.Sources ?? ReadManifest("SOURCES").ToDictionary(kv =>
        kv.Key, kv => new Uri(kv.Value));
    readonly IReadOnlyDictionary<string, string> checksums = options?.Checksums ?? ReadManifest("SHA256SUMS",
        checksumFirst: true);

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\\.onnx$")]
    private static partial Regex ModelName();

    /// <summary>True for a plain file name ending in .onnx (no folders: models come only from the configured
    /// places).</summary>
    public static bool IsValidName(string name) => ModelName().IsMatch(name);

    public static IReadOnlyList<string> DefaultSearchPaths()
    {
        var paths = new List<string>();
        if (Environment.GetEnvironmentVariable("CATALOGS_MODELS") is { Length: > 0 } env) paths.Add(env);
        paths.Add(Path.GetFullPath("models"));
        paths.Add(Path.GetFullPath(Path.Combine("..", "shared", "models")));
        return paths;
    }

    /// <summary>The local path of <paramref name="name"/> if a search folder has it, else null. Never
    /// downloads.</summary>
    public string? FindLocal(string name)
    {
        if (!IsValidName(name)) throw new ArgumentException($"'{name}' is not a model file name.", nameof(name));
        return searchPaths.Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists);
    }

    /// <summary>Whether <paramref name="name"/> is available locally or can be downloaded.</summary>
    public bool IsKnown(string name) => IsValidName(name) && (FindLocal(name) is not null || sources.ContainsKey(name));

    /// <summary>The local path of <paramref name="name"/>, downloading and verifying it when needed.</summary>
    public async Task<string> ResolveAsync(string name, CancellationToken cancellationToken = default)
    {
        if (FindLocal(name) is { } local) return local;
        if (!sources.TryGetValue(name, out var url))
            throw new FileNotFoundException(
                $"Model '{name}' is in none of {string.Join(", ", searchPaths)} and has no known download address.");
        if (!checksums.TryGetValue(name, out var expected))
            throw new InvalidOperationException($"Model '{name}' has a download address but no SHA-256 to verify it " +
                $"against.");
        await downloads.WaitAsync(cancellationToken);
        try
        {
            if (FindLocal(name) is { } raced) return raced;
            Directory.CreateDirectory(downloadDirectory);
            var target = Path.Combine(downloadDirectory, name);
            var temp = target + ".download";
            log.LogInformation("Downloading model {Model} from {Url}", name, url);
            using (var response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, cancellationToken))
            {
                response.EnsureSuccessStatusCode();
                await using var file = File.Create(temp);
                await response.Content.CopyToAsync(file, cancellationToken);
            }
            string actual;
            await using (var file = File.OpenRead(temp)) actual =
                Convert.ToHexStringLower(await SHA256.HashDataAsync(file, cancellationToken));
            if (!string.Equals(actual, expected, StringComparison.OrdinalIgnoreCase))
            {
                File.Delete(temp);
                throw new InvalidDataException($"Model '{name}' downloaded from {url} has SHA-256 {actual}, expected " +
                    $"{expected}; it was discarded.");
            }
            File.Move(temp, target, overwrite: true);
            log.LogInformation("Model {Model} verified and stored at {Path}", name, target);
            return target;
        }
        finally { downloads.Release(); }
    }

    /// <summary>Reads an embedded manifest of "name value" (or "checksum  name") lines.</summary>
    static Dictionary<string, string> ReadManifest(string resource, bool checksumFirst = false)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("Catalogs.Encoders.models."
            + resource);
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        if (stream is null) return map;
        using var reader = new StreamReader(stream);
        while (reader.ReadLine() is { } line)
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 2 || line.StartsWith('#')) continue;
            if (checksumFirst) map[parts[1]] = parts[0];
            else map[parts[0]] = parts[1];
        }
        return map;
    }
}
