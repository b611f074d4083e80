using System.ComponentModel.DataAnnotations;

namespace Catalogs.ApiHost.Imports;

/// <summary>Bulk imports (section <c>Imports</c>): where jobs keep their state, the limits every archive and
/// manifest is held to, and how hard a job may pull on image hosts.</summary>
public sealed class ImportOptions : IValidatableObject
{
    public const string Section = "Imports";

    /// <summary>Jobs' uploads, progress and per-row errors; default <c>{Catalogs:DataPath}/imports</c>.</summary>
    public string? Path { get; set; }

    /// <summary>Largest upload (zip or manifest).</summary>
    [Range(1024, 1L << 40)] public long MaxUploadBytes { get; set; } = 4L << 30;

    /// <summary>Largest manifest (CSV or JSONL), uploaded or inside an archive.</summary>
    [Range(1024, 1L << 32)] public long MaxManifestBytes { get; set; } = 64 << 20;

    [Range(1, 10_000_000)] public int MaxRows { get; set; } = 1_000_000;

    /// <summary>Entries an archive may hold.</summary>
    [Range(1, 10_000_000)] public int MaxEntries { get; set; } = 1_000_000;

    /// <summary>Largest image, in an archive (uncompressed) or a folder.</summary>
    [Range(1024, 1L << 31)] public long MaxImageBytes { get; set; } = 20 << 20;

    /// <summary>What all entries of an archive may add up to, uncompressed.</summary>
    [Range(1024, 1L << 42)] public long MaxUncompressedBytes { get; set; } = 16L << 30;

    /// <summary>Largest uncompressed-to-compressed ratio of an entry above 1 MiB (images barely compress: a high ratio
    /// is a bomb).</summary>
    [Range(2, 100_000)] public int MaxCompressionRatio { get; set; } = 100;

    /// <summary>Images fetched or read at once, per job.</summary>
    [Range(1, 1024)] public int Concurrency { get; set; } = 32;

    /// <summary>Images fetched at once from one host (so one slow host holds up no other).</summary>
    [Range(1, 256)] public int PerHostConcurrency { get; set; } = 4;

    /// <summary>Products per catalog call.</summary>
    [Range(1, 1000)] public int BatchSize { get; set; } = 32;

    [Range(1, 64)] public int MaxConcurrentJobs { get; set; } = 2;

    /// <summary>How often a host looks for jobs left unfinished by another host sharing <see cref="Path"/> (whose
    /// lock went with it), to take them over.</summary>
    public TimeSpan ResumeInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Server-side folders an import may name (<c>{"folder": name}</c>), by name; set by the
    /// operator.</summary>
    public Dictionary<string, string> Folders { get; set; } = [];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext) =>
        Folders.Where(f => string.IsNullOrWhiteSpace(f.Value) || !System.IO.Path.IsPathFullyQualified(f.Value))
            .Select(f => new ValidationResult($"{Section}:Folders:{f.Key}: '{f.Value}' is not an absolute path."));
}
