using System.Text.Json;
using System.Text.Json.Serialization;
using Catalogs.Grains;
using Catalogs.Storage;

namespace Catalogs.ApiHost.Imports;

[JsonConverter(typeof(SpecEnumConverter<ImportJobState>))]
public enum ImportJobState
{
    Queued,
    Running,

    /// <summary>Every row was tried; some may have failed (see the errors).</summary>
    Completed,

    /// <summary>The job could not go on (its catalog was deleted, its upload is unreadable).</summary>
    Failed,
    Cancelled,
}

[JsonConverter(typeof(SpecEnumConverter<ImportSourceKind>))]
public enum ImportSourceKind
{
    Zip,
    Csv,
    Jsonl,
    Folder,
}

/// <summary>What a job's <c>job.json</c> holds: what it imports and how far its life has come (the rows' progress
/// is in <c>rows.bin</c>, one status byte per row).</summary>
public sealed record ImportJobFile(
    string Id, string Tenant, string Catalog, ImportSourceKind Source, string SourceName, TenantQuotas? Quotas,
    DateTimeOffset CreatedAt, ImportJobState State, int Total, DateTimeOffset? StartedAt = null,
    DateTimeOffset? FinishedAt = null, string? Error = null);

/// <summary>A job's progress as the API shows it.</summary>
public sealed record ImportView(
    string Id, string Catalog, ImportJobState State, ImportSourceKind Source, string SourceName, int Total, int Done,
    int Written, int Unchanged, int Failed, double? RatePerSecond, double? EtaSeconds, DateTimeOffset CreatedAt,
    DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt, string? Error)
{
    [JsonIgnore]
    public bool Finished => State is ImportJobState.Completed or ImportJobState.Failed or ImportJobState.Cancelled;
}

/// <summary>One row's refusal, as the errors download lists it.</summary>
public sealed record ImportRowError(int Row, string? Id, string Error);

/// <summary>
/// One import job in memory: its file, its rows' statuses and live counts. Saved to its directory as it goes
/// (at most every second, and at every change of state), so that a restarted host resumes it where it was: rows
/// done are skipped, and a row done but not yet saved is tried again, which the catalog finds unchanged.
/// </summary>
public sealed class ImportJob
{
    public const byte Pending = 0, Written = 1, Unchanged = 2, Failed = 3;
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    readonly Lock gate = new(), errorsGate = new(), saving = new();
    byte[] rows;
    int written, unchanged, failed, doneThisRun;
    DateTimeOffset runStarted;
    bool dirty;

    ImportJob(string directory, ImportJobFile file, byte[] rows)
    {
        Directory = directory;
        File = file;
        this.rows = rows;
        foreach (var r in rows) Count(r, +1);
    }

    public string Directory { get; }
    public ImportJobFile File { get; private set; }
    public string Id => File.Id;

    /// <summary>Cancelled by a caller's cancel (not by the host stopping, which leaves the job to resume).</summary>
    public CancellationTokenSource Cancellation { get; } = new();

    public string SourcePath => Path.Combine(Directory, "source");
    string CancelPath => Path.Combine(Directory, "cancel");

    FileStream? ownership;

    /// <summary>Whether this host runs the job (holds its lock file).</summary>
    public bool Owned => ownership is not null;

    /// <summary>Takes the job's lock file (an exclusive <c>flock</c>), so that of the hosts sharing
    /// <c>Imports:Path</c> exactly one runs it; false while another host holds it. The lock goes with its holder's
    /// process, so a job whose host died can be taken over.</summary>
    public bool TryOwn()
    {
        if (ownership is not null) return true;
        try
        {
            ownership = new FileStream(Path.Combine(Directory, "lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite,
                FileShare.None);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>The job as its files have it now, holding this instance's lock (another host may have run it since
    /// this instance was read).</summary>
    public ImportJob Reload()
    {
        var fresh = Load(Directory) ?? throw new IOException($"Import job {Id} has no job.json any more.");
        (fresh.ownership, ownership) = (ownership, null);
        return fresh;
    }

    public void Disown()
    {
        ownership?.Dispose();
        ownership = null;
    }

    /// <summary>Asks whichever host runs the job to cancel it.</summary>
    public void RequestCancel()
    {
        Cancellation.Cancel();
        System.IO.File.WriteAllBytes(CancelPath, []);
    }

    public bool CancelRequested => Cancellation.IsCancellationRequested || System.IO.File.Exists(CancelPath);
    string ErrorsPath => Path.Combine(Directory, "errors.jsonl");

    public static ImportJob Create(string directory, ImportJobFile file)
    {
        System.IO.Directory.CreateDirectory(directory);
        var job = new ImportJob(directory, file, []);
        job.Save();
        return job;
    }

    public static ImportJob? Load(string directory)
    {
        var path = Path.Combine(directory, "job.json");
        if (!System.IO.File.Exists(path)) return null;
        var file = JsonSerializer.Deserialize<ImportJobFile>(System.IO.File.ReadAllBytes(path), Json)!;
        var rowsPath = Path.Combine(directory, "rows.bin");
        var rows = System.IO.File.Exists(rowsPath) ? System.IO.File.ReadAllBytes(rowsPath) : [];
        return new ImportJob(directory, file, rows.Length == file.Total ? rows : new byte[file.Total]);
    }

    public byte StatusOf(int row)
    {
        lock (gate) return rows[row - 1];
    }

    /// <summary>The job starts (or resumes) with its rows counted: rows never seen before start pending.</summary>
    public void Start(int total)
    {
        lock (gate)
        {
            if (rows.Length != total) Array.Resize(ref rows, total);
            runStarted = DateTimeOffset.UtcNow;
            doneThisRun = 0;
            File = File with
            {
                State = ImportJobState.Running,
                Total = total,
                StartedAt = File.StartedAt ?? runStarted,
            };
        }
        Save();
    }

    public void Finish(ImportJobState state, string? error = null)
    {
        lock (gate) File = File with { State = state, FinishedAt = DateTimeOffset.UtcNow, Error = error };
        Save();
    }

    public void Record(int row, ImportOutcome outcome, string? id)
    {
        var status = outcome.Status switch
        {
            ImportRowStatus.Written => Written,
            ImportRowStatus.Unchanged => Unchanged,
            _ => Failed,
        };
        if (status == Failed)
        {
            var line = JsonSerializer.Serialize(new ImportRowError(row, id, outcome.Error ?? "refused"), Json);
            lock (errorsGate) System.IO.File.AppendAllLines(ErrorsPath, [line]);
        }
        lock (gate)
        {
            Count(rows[row - 1], -1);
            rows[row - 1] = status;
            Count(status, +1);
            doneThisRun++;
            dirty = true;
        }
    }

    void Count(byte status, int by)
    {
        if (status == Written) written += by;
        else if (status == Unchanged) unchanged += by;
        else if (status == Failed) failed += by;
    }

    /// <summary>Rows' errors, each row once (its latest, should a resumed job have tried it again).</summary>
    public IEnumerable<ImportRowError> Errors()
    {
        if (!System.IO.File.Exists(ErrorsPath)) return [];
        string[] lines;
        lock (errorsGate) lines = System.IO.File.ReadAllLines(ErrorsPath);
        var latest = new SortedDictionary<int, ImportRowError>();
        foreach (var line in lines)
            if (JsonSerializer.Deserialize<ImportRowError>(line, Json) is { } e && StatusOf(e.Row) == Failed)
                latest[e.Row] = e;
        return latest.Values;
    }

    public ImportView View()
    {
        lock (gate)
        {
            int done = written + unchanged + failed;
            double? rate = null, eta = null;
            var elapsed = (DateTimeOffset.UtcNow - runStarted).TotalSeconds;
            if (File.State == ImportJobState.Running && elapsed > 0.5 && doneThisRun > 0)
            {
                rate = Math.Round(doneThisRun / elapsed, 1);
                eta = Math.Round((File.Total - done) / rate.Value, 1);
            }
            return new ImportView(File.Id, File.Catalog, File.State, File.Source, File.SourceName, File.Total, done,
                written, unchanged, failed, rate, eta, File.CreatedAt, File.StartedAt, File.FinishedAt, File.Error);
        }
    }

    /// <summary>Writes the job's file and rows' statuses when anything changed since the last save.</summary>
    public void SaveIfChanged()
    {
        if (dirty) Save();
    }

    void Save()
    {
        byte[] file, statuses;
        lock (gate)
        {
            file = JsonSerializer.SerializeToUtf8Bytes(File, Json);
            statuses = rows.ToArray();
            dirty = false;
        }
        lock (saving) // one writer of the two files at a time
        {
            FileDurability.WriteAllBytesAtomically(Path.Combine(Directory, "rows.bin"), statuses);
            FileDurability.WriteAllBytesAtomically(Path.Combine(Directory, "job.json"), file);
        }
    }
}
