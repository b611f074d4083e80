using System.Collections.Concurrent;
using System.Threading.Channels;
using Catalogs.Grains;
using Microsoft.Extensions.Options;

namespace Catalogs.ApiHost.Imports;

/// <summary>The import jobs this host knows, under <c>{Imports:Path}/{tenant}/{catalog}/{job}</c>, and the queue of
/// those to run. Jobs found unfinished at start-up are queued again: they resume.</summary>
public sealed partial class ImportJobs : IDisposable
{
    readonly ConcurrentDictionary<string, ImportJob> jobs = new(StringComparer.Ordinal);
    readonly Channel<ImportJob> queue = Channel.CreateUnbounded<ImportJob>();
    readonly ImportOptions options;
    readonly ILogger<ImportJobs> logger;

    public ImportJobs(IOptions<ImportOptions> options, IConfiguration configuration, ILogger<ImportJobs> logger)
    {
        this.options = options.Value;
        this.logger = logger;
        Root = Path.GetFullPath(this.options.Path
            ?? Path.Combine(configuration["Catalogs:DataPath"] ?? "./data", "imports"));
    }

    public string Root { get; }
    public ChannelReader<ImportJob> Queue => queue.Reader;

    static string Key(string tenant, string catalog, string id) => $"{tenant}/{catalog}/{id}";

    /// <summary>A job of this host, or one another host sharing <see cref="Root"/> runs (read afresh).</summary>
    public ImportJob? Find(string tenant, string catalog, string id)
    {
        if (jobs.GetValueOrDefault(Key(tenant, catalog, id)) is { Owned: true } mine) return mine;
        if (!JobId().IsMatch(id)) return null; // a job id never names a path
        var dir = Path.Combine(Root, tenant, catalog, id);
        try
        {
            return Directory.Exists(dir) && ImportJob.Load(dir) is { } job
                ? jobs.AddOrUpdate(Key(tenant, catalog, id), job, (_, known) => known.Owned ? known : job)
                : null;
        }
        catch (Exception ex) when (ex is IOException or System.Text.Json.JsonException)
        {
            return null; // being written by its host this very moment: as if not there
        }
    }

    public IEnumerable<ImportJob> Of(string tenant, string catalog)
    {
        var dir = Path.Combine(Root, tenant, catalog);
        var ids = Directory.Exists(dir) ? Directory.EnumerateDirectories(dir).Select(Path.GetFileName) : [];
        return ids.Select(id => Find(tenant, catalog, id!)).OfType<ImportJob>()
            .OrderByDescending(j => j.File.CreatedAt).ToArray();
    }

    [System.Text.RegularExpressions.GeneratedRegex("^[0-9a-f]{32}$")]
    private static partial System.Text.RegularExpressions.Regex JobId();

    /// <summary>Loads every job under the root and queues the unfinished ones no host runs: at start-up, and again
    /// and again, so that a job whose host died is taken over by another sharing the root.</summary>
    public void Resume()
    {
        if (!Directory.Exists(Root)) return;
        var options = new EnumerationOptions { RecurseSubdirectories = true, MaxRecursionDepth = 2 };
        foreach (var dir in Directory.EnumerateDirectories(Root, "*", options))
        {
            if (Path.GetRelativePath(Root, dir).Split('/') is not [var tenant, var catalog, var id]) continue;
            // Mine, or ended (an end is final): nothing to look at.
            if (jobs.TryGetValue(Key(tenant, catalog, id), out var known) && (known.Owned || known.View().Finished))
                continue;
            ImportJob? job;
            try
            {
                job = ImportJob.Load(dir);
            }
            catch (Exception ex)
            {
                logger.LogWarning("Import job in {Directory} cannot be read and is skipped: {Error}", dir, ex.Message);
                continue;
            }
            if (job is null) continue;
            jobs[Key(tenant, catalog, id)] = job;
            if (job.File.State is ImportJobState.Queued or ImportJobState.Running && job.TryOwn())
            {
                logger.LogInformation("Import {Job} into {Tenant}/{Catalog} resumes", job.Id, tenant, catalog);
                queue.Writer.TryWrite(job);
            }
        }
    }

    /// <summary>Lets go of every job lock this host holds (jobs queued here but not started included), so that
    /// another host, or this one started again in the same process, can take them.</summary>
    public void Dispose()
    {
        foreach (var job in jobs.Values) job.Disown();
    }

    /// <summary>The job instance this host runs is the one its requests see.</summary>
    public void Adopt(ImportJob job) => jobs[Key(job.File.Tenant, job.File.Catalog, job.Id)] = job;

    /// <summary>A new job from an upload (written to the job's directory, at most
    /// <see cref="ImportOptions.MaxUploadBytes"/>) or a folder; the source is opened once to check it as a whole,
    /// before the job is accepted. Throws <see cref="CatalogRequestException"/> for a source that cannot run.</summary>
    public async Task<ImportJob> CreateAsync(string tenant, string catalog, ImportSourceKind kind, string name,
        TenantQuotas? quotas, Stream? upload, CancellationToken cancellationToken)
    {
        var id = Guid.CreateVersion7().ToString("N");
        var dir = Path.Combine(Root, tenant, catalog, id);
        Directory.CreateDirectory(dir);
        try
        {
            if (upload is not null) await SaveUploadAsync(upload, Path.Combine(dir, "source"), cancellationToken);
            var file = new ImportJobFile(id, tenant, catalog, kind, name, quotas, DateTimeOffset.UtcNow,
                ImportJobState.Queued, 0);
            using (var source = Open(dir, file)) file = file with { Total = source.Rows.Count };
            var job = ImportJob.Create(dir, file);
            jobs[Key(tenant, catalog, id)] = job;
            queue.Writer.TryWrite(job);
            return job;
        }
        catch
        {
            Directory.Delete(dir, recursive: true);
            throw;
        }
    }

    async Task SaveUploadAsync(Stream upload, string path, CancellationToken cancellationToken)
    {
        await using var file = File.Create(path);
        var buffer = new byte[1 << 16];
        long total = 0;
        int read;
        while ((read = await upload.ReadAsync(buffer, cancellationToken)) > 0)
        {
            if ((total += read) > options.MaxUploadBytes)
                throw CatalogRequestException.TooLarge($"The upload is larger than {options.MaxUploadBytes:N0} " +
                    $"bytes (Imports:MaxUploadBytes).");
            await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
        }
        if (total == 0) throw CatalogRequestException.Malformed("The upload is empty.");
    }

    /// <summary>The job's source, opened: its upload, or the folder it names.</summary>
    public IImportSource Open(ImportJob job) => Open(job.Directory, job.File);

    IImportSource Open(string dir, ImportJobFile file)
    {
        var upload = Path.Combine(dir, "source");
        switch (file.Source)
        {
            case ImportSourceKind.Zip:
                return new ZipImportSource(upload, options);
            case ImportSourceKind.Folder:
                return new FolderImportSource(options.Folders.GetValueOrDefault(file.SourceName)
                    ?? throw CatalogRequestException.Invalid($"There is no import folder '{file.SourceName}' " +
                        $"(Imports:Folders names {string.Join(", ", options.Folders.Keys.Order())})."), options);
            default:
                if (new FileInfo(upload).Length > options.MaxManifestBytes)
                    throw CatalogRequestException.TooLarge($"The manifest is larger than " +
                        $"{options.MaxManifestBytes:N0} bytes (Imports:MaxManifestBytes).");
                using (var stream = File.OpenRead(upload))
                    return new ManifestImportSource(ImportManifest.Read(stream,
                        file.Source == ImportSourceKind.Csv ? ManifestFormat.Csv : ManifestFormat.Jsonl,
                        options.MaxRows));
        }
    }
}
