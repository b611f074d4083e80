using Catalogs.Training;
using Microsoft.Extensions.Logging;

namespace Catalogs.Grains.Catalogs;

/// <summary>
/// Training a catalog-tuned encoder: a head (LDA, a trained feature layer, or PCA-whitening) fitted to the catalog's
/// own labels, over its backbone features — the stored vectors when the encoder has no head yet, else the stored
/// images through the backbone again. The fitting runs on the thread pool, never in a grain turn; the result is
/// stored as a content-addressed head and becomes a new encoder version of the catalog, applied by re-embedding
/// (with <c>apply</c>, at once). A failed or cancelled training leaves the serving version untouched.
/// </summary>
public sealed partial class CatalogGrain
{
    public const int MaxHeadDimensions = 4096, MaxTrainingEpochs = 1000;
    const int LabelReadBatch = 256;
    CancellationTokenSource? training;
    // The running training's latest epoch, written by the trainer's thread, read by status calls.
    volatile EpochReport? trainingProgress;

    public async Task<TrainingStatus> StartTraining(TrainingRequest request, CancellationToken cancellationToken)
    {
        using var shared = await gate.EnterSharedAsync(cancellationToken);
        var spec = Spec();
        var encoder = spec.Encoder ?? throw CatalogRequestException.Conflict(
            $"Catalog '{Name}' is vector-only: it has no encoder to tune.");
        if (training is not null)
            throw CatalogRequestException.Conflict("A training runs in this catalog already: wait for it to end or " +
                "cancel it (POST /v1/catalogs/{catalog}/training:cancel).");
        // Taken before the first await, so that a second request meanwhile is refused; given back if this one is.
        var run = training = new CancellationTokenSource();
        try
        {
            return await StartTrainingCore(spec, encoder, request, run, cancellationToken);
        }
        catch
        {
            training = null;
            throw;
        }
    }

    async Task<TrainingStatus> StartTrainingCore(CatalogSpec spec, EncoderSpec encoder, TrainingRequest request,
        CancellationTokenSource run, CancellationToken cancellationToken)
    {
        var ns = request.LabelNamespace;
        if (string.IsNullOrWhiteSpace(ns))
            throw CatalogRequestException.Malformed("labelNamespace (the restrict namespace holding the labels) is " +
                "required.");
        Defined(request.Kind, "kind");
        if (request.Dimensions is < 1 or > MaxHeadDimensions)
            throw Invalid($"dimensions must be between 1 and {MaxHeadDimensions}.");
        if (request.Epochs is { } epochs && (request.Kind != TrainingKind.Trained || epochs is < 1 or >
            MaxTrainingEpochs))
            throw Invalid($"epochs applies to kind trained and must be between 1 and {MaxTrainingEpochs}.");
        // The labels are read now, so that labels that cannot fit a head are refused at once.
        var labeled = await LabeledProductsAsync(spec, ns, cancellationToken);
        if (labeled.Count == 0)
            throw Invalid($"No product of catalog '{Name}' has a token in restrict namespace '{ns}'.");
        if (HeadFitting.Refusal(labeled.Select(p => new LabeledExample(p.Product.Id, p.Label, [0])).ToList()) is
            { } refusal)
            throw Invalid($"{refusal} (labels: restrict namespace '{ns}')");
        int labels = labeled.Select(p => p.Label).Distinct(StringComparer.Ordinal).Count();
        // At most the backbone's (known once its embeddings are at hand); LDA gives at most labels − 1.
        int dimensions = request.Dimensions ?? (request.Kind == TrainingKind.Lda ? labels - 1 : 256);
        var status = new TrainingStatus(JobPhase.Running, request, labeled.Count, labels, DateTimeOffset.UtcNow,
            Dimensions: dimensions);
        await PublishAsync(state.State.With(s => s.Training = status), cancellationToken);
        trainingProgress = null;
        _ = TrainAsync(spec, encoder with { Head = null }, labeled, status, run.Token);
        return status;
    }

    public Task<TrainingStatus?> GetTraining(CancellationToken cancellationToken)
    {
        Spec();
        var status = state.State.Training;
        return Task.FromResult(status is { Phase: JobPhase.Running } && trainingProgress is { } p
            ? status with { Epoch = p.Epoch, Loss = p.Loss, ValidationPrecisionAt10 = p.ValidationPrecisionAt10 }
            : status);
    }

    public async Task<TrainingStatus> CancelTraining(CancellationToken cancellationToken)
    {
        Spec();
        if (training is null || state.State.Training is not { } status)
            throw CatalogRequestException.Conflict("No training runs in this catalog.");
        await training.CancelAsync();
        return status;
    }

    sealed record LabeledProduct(Datapoint Product, string Label);

    /// <summary>Every product with a token in restrict namespace <paramref name="ns"/>, with its first one as the
    /// label.</summary>
    async Task<List<LabeledProduct>> LabeledProductsAsync(CatalogSpec spec, string ns,
        CancellationToken cancellationToken)
    {
        var labeled = new List<LabeledProduct>();
        for (int i = 0; i < spec.Shards; i++)
        {
            var shard = Shard(i);
            foreach (var batch in (await shard.GetIds(cancellationToken)).Chunk(LabelReadBatch))
                foreach (var p in await shard.GetMany(batch, cancellationToken))
                    if (p?.Restricts.FirstOrDefault(r => r.Namespace == ns)?.AllowList.FirstOrDefault() is { } label)
                        labeled.Add(new LabeledProduct(p, label));
        }
        return labeled;
    }

    async Task TrainAsync(CatalogSpec spec, EncoderSpec backbone, List<LabeledProduct> labeled,
        TrainingStatus status, CancellationToken stop)
    {
        await Task.Yield(); // the caller's turn goes on
        try
        {
            var examples = await BackboneExamplesAsync(spec, backbone, labeled, stop);
            var request = status.Request;
            var kind = request.Kind switch
            {
                TrainingKind.Trained => HeadKind.Trained,
                TrainingKind.PcaWhitening => HeadKind.PcaWhitening,
                _ => HeadKind.Lda,
            };
            var trainer = request.Epochs is { } epochs ? new HeadTrainingOptions(Epochs: epochs) : null;
            DelayDeactivation(TimeSpan.FromMinutes(30)); // fitting may take a while; the catalog must wait for it
            if (examples.Count == 0) throw new InvalidOperationException("No labeled product has a stored image.");
            var options = new HeadFitOptions(kind, Math.Min(status.Dimensions!.Value, examples[0].Vector.Length),
                trainer);
            var fitted = await Task.Run(() => HeadFitting.Fit(examples, options,
                report => trainingProgress = report, stop), stop);
            var hash = fitted.Head.Hash();
            await GrainFactory.GetGrain<IHeadGrain>(hash).Put(fitted.Head.ToBytes(), stop);
            var tuned = backbone with { Head = hash };
            var best = fitted.Training?.Epochs.FirstOrDefault(e => e.Epoch == fitted.Training.BestEpoch);
            status = status with
            {
                Phase = JobPhase.Done,
                Encoder = tuned,
                Dimensions = fitted.Head.OutputDimensions,
                Examples = examples.Count,
                Epoch = best?.Epoch ?? 0,
                Loss = best?.Loss,
                ValidationPrecisionAt10 = fitted.Training?.ValidationPrecisionAt10,
                FinishedAt = DateTimeOffset.UtcNow,
            };
            logger.LogInformation("Catalog {Catalog}: {Kind} head {Head} fitted on {Examples} products",
                this.GetPrimaryKeyString(), request.Kind, hash, examples.Count);
            if (request.Apply)
            {
                try
                {
                    await ApplyTunedEncoderAsync(tuned, fitted.Head.OutputDimensions, stop);
                }
                catch (CatalogRequestException ex)
                {
                    status = status with { Error = $"Fitted, but not applied: {ex.Message}" };
                }
            }
        }
        catch (Exception ex) when (stop.IsCancellationRequested)
        {
            status = status with
            {
                Phase = JobPhase.Cancelled,
                FinishedAt = DateTimeOffset.UtcNow,
                Error = ex is OperationCanceledException ? null : ex.Message
            };
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "Training of {Catalog} failed", this.GetPrimaryKeyString());
            status = status with
            {
                Phase = JobPhase.Failed,
                FinishedAt = DateTimeOffset.UtcNow,
                Error = ex.Message
            };
        }
        training = null;
        await PublishJobEndAsync(s => s.Training = status, "training");
    }

    /// <summary>Saves how a background job ended (unless the catalog is gone), exclusively: no other state write
    /// (a configuration change) may interleave with it. A failure to save is logged; the job is over either
    /// way.</summary>
    async Task PublishJobEndAsync(Action<CatalogState> end, string job)
    {
        try
        {
            using var exclusive = await gate.EnterExclusiveAsync(CancellationToken.None);
            if (Exists) await PublishAsync(state.State.With(end), CancellationToken.None);
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "The end of the {Job} of {Catalog} could not be saved", job,
                this.GetPrimaryKeyString());
        }
    }

    /// <summary>The backbone's embedding of each labeled product: its stored vector when the serving encoder is the
    /// backbone itself, else its stored image through the backbone (products without one are left out).</summary>
    async Task<List<LabeledExample>> BackboneExamplesAsync(CatalogSpec spec, EncoderSpec backbone,
        List<LabeledProduct> labeled, CancellationToken stop)
    {
        if (spec.Encoder!.Head is null)
            return labeled.Select(p => new LabeledExample(p.Product.Id, p.Label, p.Product.FeatureVector)).ToList();
        var examples = new List<LabeledExample>();
        var withBackbone = spec with { Encoder = backbone };
        foreach (var batch in labeled.Where(p => p.Product.ImageSha256 is not null).Chunk(CopyBatch))
        {
            DelayDeactivation(TimeSpan.FromMinutes(5));
            var encoded = await Task.WhenAll(batch.Select(async p =>
                await Shard(ShardOf(p.Product.Id, spec.Shards)).GetImage(p.Product.Id, null, stop) is { } image
                    ? new LabeledExample(p.Product.Id, p.Label,
                        await EncodeAsync(withBackbone, image.Bytes, $"Product '{p.Product.Id}': ", stop))
                    : null));
            examples.AddRange(encoded.OfType<LabeledExample>());
        }
        return examples;
    }

    /// <summary>Re-embeds the catalog with the tuned encoder (the serving version answers meanwhile).</summary>
    async Task ApplyTunedEncoderAsync(EncoderSpec tuned, int dimensions, CancellationToken cancellationToken)
    {
        using var exclusive = await gate.EnterExclusiveAsync(cancellationToken);
        var current = Spec();
        if (state.State.Shadow is { Building: true }) throw ReembeddingRuns();
        if (current.MatchingEngine is not null && dimensions != current.Dimensions)
            throw CatalogRequestException.Conflict($"The head has {dimensions} dimensions and the catalog's Matching " +
                $"Engine index {current.Dimensions}: bind another index first, or fit {current.Dimensions}.");
        await StartReembeddingAsync(current, current with { Encoder = tuned, Dimensions = dimensions },
            await ShardStatsAsync(cancellationToken), cancellationToken);
    }
}
