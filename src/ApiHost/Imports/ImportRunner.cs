using System.Threading.Channels;
using Catalogs.ApiHost.Access;
using Catalogs.ApiHost.ImageFetching;
using Catalogs.ApiHost.Infrastructure;
using Catalogs.Grains;
using Microsoft.Extensions.Options;

namespace Catalogs.ApiHost.Imports;

/// <summary>
/// Runs import jobs in the background, <see cref="ImportOptions.MaxConcurrentJobs"/> at a time. A job's rows are
/// read or fetched by lanes, one per image host (plus one for the upload's own images), each with at most
/// <see cref="ImportOptions.PerHostConcurrency"/> fetches under a job-wide <see cref="ImportOptions.Concurrency"/>:
/// a slow or failing host holds up only its own rows. Prepared rows go to the catalog in batches
/// (<see cref="ICatalogGrain.Import"/>), which skips unchanged products and refuses rows one by one.
/// </summary>
public sealed class ImportRunner(ImportJobs jobs, IGrainFactory grains, ImageFetcher fetcher,
    RequestValidator validator, StorageQuota quota, IOptions<ImportOptions> options, ILogger<ImportRunner> logger)
    : BackgroundService
{
    const int Writers = 4;
    ImportOptions Options => options.Value;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        Resume();
        _ = ResumeAgainAsync(stoppingToken);
        try
        {
            await Parallel.ForEachAsync(jobs.Queue.ReadAllAsync(stoppingToken), new ParallelOptions
            {
                MaxDegreeOfParallelism = Options.MaxConcurrentJobs,
                CancellationToken = stoppingToken,
            }, async (job, ct) => await RunAsync(job, ct));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Takes over the jobs other hosts sharing <c>Imports:Path</c> left unfinished (their lock gone with
    /// them).</summary>
    async Task ResumeAgainAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Options.ResumeInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken)) Resume();
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>A scan that fails (a job directory removed meanwhile, a disk error) is tried again at the next
    /// tick: it must never stop the host.</summary>
    void Resume()
    {
        try
        {
            jobs.Resume();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning("Looking for import jobs to resume failed: {Error}", ex.Message);
        }
    }

    async Task RunAsync(ImportJob job, CancellationToken stopping)
    {
        if (!job.TryOwn()) return; // another host runs it
        try
        {
            job = job.Reload();
            jobs.Adopt(job);
            await RunOwnedAsync(job, stopping);
        }
        catch (Exception ex) when (ex is IOException or System.Text.Json.JsonException)
        {
            // Its files are gone or unreadable: nothing to run, and no reason to stop the other jobs.
            logger.LogWarning("Import {Job} cannot run: {Error}", job.Id, ex.Message);
        }
        finally
        {
            job.Disown();
        }
    }

    async Task RunOwnedAsync(ImportJob job, CancellationToken stopping)
    {
        if (job.File.State is not (ImportJobState.Queued or ImportJobState.Running)) return;
        if (job.CancelRequested)
        {
            job.Finish(ImportJobState.Cancelled);
            return;
        }
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stopping, job.Cancellation.Token);
        var ct = linked.Token;
        var saving = Task.CompletedTask;
        using var done = new CancellationTokenSource();
        try
        {
            using var source = jobs.Open(job);
            job.Start(source.Rows.Count);
            saving = SaveEverySecondAsync(job, done.Token);
            logger.LogInformation("Import {Job} into {Tenant}/{Catalog}: {Rows} rows", job.Id, job.File.Tenant,
                job.File.Catalog, source.Rows.Count);
            var catalog = grains.GetGrain<ICatalogGrain>($"{job.File.Tenant}/{job.File.Catalog}");
            var ready = Channel.CreateBounded<(ImportRow Row, ProductWrite Write)>(Options.BatchSize * Writers * 2);
            var pending = new List<ImportRow>();
            foreach (var row in source.Rows.Where(r => job.StatusOf(r.Number) == ImportJob.Pending))
                if (row.Error is not null) job.Record(row.Number, Failure(row.Error), row.Id);
                else pending.Add(row);
            // A writer that meets a fault the job cannot go past (the catalog is gone) stops the others and the
            // preparation, and its fault ends the job.
            using var abort = CancellationTokenSource.CreateLinkedTokenSource(ct);
            Exception? fault = null;
            var writers = Enumerable.Range(0, Writers).Select(async _ =>
            {
                try
                {
                    await WriteAsync(job, catalog, ready.Reader, abort.Token);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Interlocked.CompareExchange(ref fault, ex, null);
                    await abort.CancelAsync();
                }
            }).ToArray();
            try
            {
                await PrepareAsync(job, source, pending, ready.Writer, abort.Token);
            }
            catch (OperationCanceledException) when (fault is not null)
            {
            }
            finally
            {
                ready.Writer.TryComplete();
            }
            try
            {
                await Task.WhenAll(writers);
            }
            catch (OperationCanceledException) when (fault is not null)
            {
            }
            if (fault is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(fault);
            job.Finish(ImportJobState.Completed);
            logger.LogInformation("Import {Job} completed: {View}", job.Id, job.View());
        }
        catch (OperationCanceledException) when (job.Cancellation.IsCancellationRequested)
        {
            job.Finish(ImportJobState.Cancelled);
        }
        catch (Exception) when (stopping.IsCancellationRequested && !job.Cancellation.IsCancellationRequested)
        {
            job.SaveIfChanged(); // the host stops: still running on disk, the next start resumes it
        }
        catch (CatalogRequestException ex)
        {
            job.Finish(ImportJobState.Failed, ex.Message);
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "Import {Job} failed", job.Id);
            job.Finish(ImportJobState.Failed, $"The import stopped: {ex.Message}");
        }
        finally
        {
            done.Cancel();
            await saving;
        }
    }

    static async Task SaveEverySecondAsync(ImportJob job, CancellationToken done)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(done))
            {
                job.SaveIfChanged();
                if (job.CancelRequested) await job.Cancellation.CancelAsync(); // asked through another host
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    static ImportOutcome Failure(string error) => new(ImportRowStatus.Failed, error);

    /// <summary>Rows read or fetched lane by lane; a row that cannot be prepared is recorded as failed.</summary>
    async Task PrepareAsync(ImportJob job, IImportSource source, List<ImportRow> rows,
        ChannelWriter<(ImportRow, ProductWrite)> ready, CancellationToken ct)
    {
        using var slots = new SemaphoreSlim(Options.Concurrency);
        var lanes = rows.GroupBy(r => r.Image is { } image && ImportSources.IsUrl(image)
            && Uri.TryCreate(image, UriKind.Absolute, out var uri) ? uri.Authority : "");
        await Task.WhenAll(lanes.Select(lane =>
        {
            var queue = new Queue<ImportRow>(lane);
            int workers = Math.Min(queue.Count,
                lane.Key.Length == 0 ? Options.Concurrency : Options.PerHostConcurrency);
            return Task.WhenAll(Enumerable.Range(0, workers).Select(async _ =>
            {
                while (true)
                {
                    ImportRow row;
                    lock (queue)
                        if (!queue.TryDequeue(out row!)) return;
                    ProductWrite? write = null;
                    await slots.WaitAsync(ct);
                    try
                    {
                        write = await WriteOfAsync(row, source, ct);
                    }
                    catch (Exception ex) when (ex is CatalogRequestException or ImportRowException)
                    {
                        job.Record(row.Number, Failure(ex.Message), row.Id);
                    }
                    finally
                    {
                        slots.Release();
                    }
                    if (write is not null) await ready.WriteAsync((row, write), ct);
                }
            }));
        }));
    }

    async Task<ProductWrite> WriteOfAsync(ImportRow row, IImportSource source, CancellationToken ct)
    {
        validator.ProductIdIsValid(row.Id);
        var dto = row.Datapoint!;
        var vector = RequestValidator.VectorOf(dto);
        var point = validator.ToDatapoint(row.Id!, dto, vector);
        if (row.Image is not { } image) return new ProductWrite(point);
        var bytes = ImportSources.IsUrl(image) ? await fetcher.FetchAsync(image, ct)
            : await source.ReadImageAsync(image, ct);
        return new ProductWrite(point, bytes);
    }

    /// <summary>Prepared rows to the catalog, a batch at a time; calls that meet an unavailable cluster are tried
    /// again (an import is idempotent), a refused batch's rows fail with its reason.</summary>
    async Task WriteAsync(ImportJob job, ICatalogGrain catalog, ChannelReader<(ImportRow Row, ProductWrite Write)>
        ready, CancellationToken ct)
    {
        var batch = new List<(ImportRow Row, ProductWrite Write)>(Options.BatchSize);
        while (await ready.WaitToReadAsync(ct))
        {
            batch.Clear();
            while (batch.Count < Options.BatchSize && ready.TryRead(out var item)) batch.Add(item);
            if (batch.Count == 0) continue;
            ImportOutcome[] outcomes;
            try
            {
                if (job.File.Quotas is { } quotas)
                    await quota.EnsureRoomAsync(job.File.Tenant, quotas, batch.Count, ct);
                outcomes = await ImportWithRetriesAsync(catalog, batch.Select(b => b.Write).ToArray(), ct);
            }
            catch (CatalogRequestException ex)
                when (ex.Error is not (CatalogError.NotFound or CatalogError.Unavailable))
            {
                outcomes = batch.Select(_ => Failure(ex.Message)).ToArray();
            }
            for (int i = 0; i < batch.Count; i++) job.Record(batch[i].Row.Number, outcomes[i], batch[i].Row.Id);
        }
    }

    async Task<ImportOutcome[]> ImportWithRetriesAsync(ICatalogGrain catalog, ProductWrite[] writes,
        CancellationToken ct)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await catalog.Import(writes, ct);
            }
            catch (Exception ex) when (Unavailability.IsTransient(ex) && !ct.IsCancellationRequested)
            {
                logger.LogInformation("Import batch found the cluster unavailable ({Error}); retrying", ex.Message);
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(5000, 100 * (1 << Math.Min(attempt, 6)))), ct);
            }
        }
    }
}
