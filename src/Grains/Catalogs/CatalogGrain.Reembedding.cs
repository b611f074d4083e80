using Microsoft.Extensions.Logging;

namespace Catalogs.Grains.Catalogs;

/// <summary>
/// Zero-downtime re-embedding. A configuration change of a catalog that holds products (another encoder, index,
/// metric or shard count) builds the new version in shards of its own while the serving version answers every
/// request: each write goes to both versions (the new one re-encodes the image with its encoder), and a background
/// copier takes every stored product over (its stored image through the new encoder, or its vector as it is). A
/// product's copy is committed only if, at that moment, the serving version still holds exactly what was read and
/// the new version holds nothing of it (writes hold <see cref="writeOrder"/> shared, the commit holds it
/// exclusively): so a write or delete that raced the copy always wins. Then the versions switch atomically; the old
/// one stays as the previous version, still written, so a rollback is one instant call.
/// </summary>
public sealed partial class CatalogGrain
{
    /// <summary>Products per copy step: one shard read, one image fetch each, one encoder round, one commit.</summary>
    const int CopyBatch = 32;
    static readonly TimeSpan TransientPause = TimeSpan.FromSeconds(1);
    const int TransientAttempts = 60;

    // User writes enter shared; the copier's commit of a batch enters exclusive (see the class remarks).
    readonly AsyncReaderWriterGate writeOrder = new();
    CancellationTokenSource? copying;
    Task? copier;

    async Task<CatalogInfo> StartReembeddingAsync(CatalogSpec current, CatalogSpec spec, ShardStats[] stats,
        CancellationToken cancellationToken)
    {
        long products = stats.Sum(s => (long)s.Products);
        bool reencodes = !SameEncoder(current.Encoder, spec.Encoder);
        if (reencodes)
        {
            if (spec.Encoder is null)
                throw CatalogRequestException.Conflict("The catalog holds products, so it cannot drop its encoder: " +
                    "create a vector-only catalog instead.");
            long without = stats.Sum(s => (long)s.WithoutImage);
            if (without > 0)
                throw CatalogRequestException.Conflict($"{without} of the catalog's {products} products have no " +
                    "stored image (their vectors were given), so the new encoder cannot re-embed them: send them " +
                    "again with their images or delete them, or create a new catalog.");
        }
        else if (spec.Dimensions != current.Dimensions)
            throw CatalogRequestException.Conflict("The catalog holds products, so its dimensions cannot change " +
                "without a new encoder to compute them.");
        var previous = state.State;
        var now = DateTimeOffset.UtcNow;
        var building = new ShadowVersion(spec with { MatchingEngine = null }, now.UtcTicks.ToString("x"),
            previous.Version + 1, Building: true);
        try
        {
            await Task.WhenAll(Enumerable.Range(0, spec.Shards).Select(i => Shard(building.Incarnation, i)
                .Initialize(new ShardSettings(i, spec.Metric, spec.Dimensions, spec.Index), cancellationToken)));
            await PublishAsync(previous.With(s =>
            {
                s.Shadow = building;
                s.Reembedding = new Reembedding(ReembeddingPhase.Copying, building.Version, reencodes, products, 0, 0,
                    now);
            }), cancellationToken);
        }
        catch
        {
            await DropShardsQuietlyAsync(spec.Shards, building.Incarnation);
            throw;
        }
        // The previous version gives way: no write reaches it any more (this call holds the gate exclusively).
        if (previous.Shadow is { } old) await DropShardsQuietlyAsync(old.Spec.Shards, old.Incarnation);
        logger.LogInformation("Catalog {Catalog} re-embeds {Products} products into version {Version} ({How})",
            this.GetPrimaryKeyString(), products, building.Version, reencodes ? "new encoder" : "vectors copied");
        StartCopying(building);
        return await GetInfoCore(cancellationToken);
    }

    static bool SameEncoder(EncoderSpec? a, EncoderSpec? b) => a is null ? b is null : a.SameAs(b);

    static CatalogRequestException ReembeddingRuns() => CatalogRequestException.Conflict(
        "The catalog is re-embedding into a new version: wait until it has switched (its stats show the progress) " +
        "or cancel it (POST /v1/catalogs/{catalog}/reembedding:cancel).");

    void StartCopying(ShadowVersion building)
    {
        copying = new CancellationTokenSource();
        copier = CopyAsync(building, copying.Token);
    }

    /// <summary>Stops the copier, if one runs, and waits until it has left.</summary>
    async Task StopCopyingAsync()
    {
        if (copying is null) return;
        await copying.CancelAsync();
        try
        {
            await copier!;
        }
        catch (OperationCanceledException)
        {
        }
        (copying, copier) = (null, null);
    }

    async Task CopyAsync(ShadowVersion building, CancellationToken stop)
    {
        await Task.Yield(); // the caller's turn goes on
        long processed = 0, written = 0;
        try
        {
            var serving = state.State.Incarnation;
            for (int i = 0; i < Spec().Shards; i++)
            {
                int shard = i;
                var ids = await Retrying(() => Shard(serving, shard).GetIds(stop), stop);
                foreach (var batch in ids.Chunk(CopyBatch))
                {
                    // The copier is what keeps an otherwise idle catalog busy: it must not be collected meanwhile.
                    DelayDeactivation(TimeSpan.FromMinutes(5));
                    written += await Retrying(() => CopyBatchAsync(building, serving, shard, batch, stop), stop);
                    processed += batch.Length;
                    if (state.State.Reembedding is { } r)
                        state.State.Reembedding = r with { Processed = processed, Written = written };
                    if (options.Value.ReembeddingBatchPause > TimeSpan.Zero)
                        await Task.Delay(options.Value.ReembeddingBatchPause, stop);
                }
            }
            await SwitchAsync(building, stop);
        }
        catch (Exception) when (stop.IsCancellationRequested)
        {
            // cancelled, or the catalog dropped: whoever stopped the copier handles the state
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "Re-embedding of {Catalog} into version {Version} failed", this.GetPrimaryKeyString(),
                building.Version);
            try
            {
                await StopAsync(building, ReembeddingPhase.Failed, ex.Message, stop);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
            }
        }
    }

    /// <summary>Copies one batch of one serving shard's products into the new version; returns how many it
    /// wrote.</summary>
    async Task<int> CopyBatchAsync(ShadowVersion building, string serving, int shard, string[] ids,
        CancellationToken stop)
    {
        using var shared = await gate.EnterSharedAsync(stop);
        if (state.State.Shadow?.Incarnation != building.Incarnation) throw new OperationCanceledException(stop);
        var spec = Spec();
        var source = Shard(serving, shard);
        var read = await source.GetMany(ids, stop);
        var there = await GetManyFrom(building.Spec, building.Incarnation, ids, stop);
        var todo = read.Where((p, j) => p is not null && there[j] is null).Select(p => p!).ToArray();
        if (todo.Length == 0) return 0;
        var writes = await Task.WhenAll(todo.Select(p => CopyOfAsync(spec, building, source, p, stop)));
        using var order = await writeOrder.EnterExclusiveAsync(stop);
        var now = await source.GetMany(todo.Select(p => p.Id).ToArray(), stop);
        there = await GetManyFrom(building.Spec, building.Incarnation, todo.Select(p => p.Id).ToArray(), stop);
        bool Unchanged(int j) => now[j] is { } current && there[j] is null && current.UpdatedAt == todo[j].UpdatedAt
            && current.ImageSha256 == todo[j].ImageSha256;
        // No copy of a product that is still as read: its stored image is gone. Switching without it would lose it.
        for (int j = 0; j < writes.Length; j++)
            if (writes[j] is null && Unchanged(j))
                throw new InvalidOperationException($"Product '{todo[j].Id}': its stored image " +
                    $"{todo[j].ImageSha256} cannot be read, so it cannot be re-embedded.");
        var commit = writes.Where((w, j) => w is not null && Unchanged(j)).Select(w => w!).ToArray();
        await UpsertTo(building.Spec, building.Incarnation, commit, stop);
        return commit.Length;
    }

    /// <summary>One product as the new version stores it: its stored image through the new encoder (or its vector
    /// as it is), the image kept; null when the product changed meanwhile (a write to both versions has it).</summary>
    async Task<ProductWrite?> CopyOfAsync(CatalogSpec spec, ShadowVersion building, IShardGrain source,
        Datapoint product, CancellationToken stop)
    {
        byte[]? image = null;
        if (product.ImageSha256 is not null)
        {
            image = (await source.GetImage(product.Id, null, stop))?.Bytes;
            if (image is null) return null;
        }
        if (SameEncoder(spec.Encoder, building.Spec.Encoder)) return new ProductWrite(product, image);
        var e = await EncodeProductAsync(building.Spec, image!, $"Product '{product.Id}': ", stop);
        return new ProductWrite(product with { FeatureVector = e.Vector, Color = e.Color }, image);
    }

    /// <summary>Runs <paramref name="step"/> again while the cluster is unavailable (a silo dies, a store fails
    /// over), for about a minute.</summary>
    static async Task<T> Retrying<T>(Func<Task<T>> step, CancellationToken stop)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await step();
            }
            catch (Exception ex) when (Unavailability.IsTransient(ex) && attempt < TransientAttempts
                && !stop.IsCancellationRequested)
            {
                await Task.Delay(TransientPause, stop);
            }
        }
    }

    /// <summary>The new version becomes the serving one, in one state write; the old one stays as the previous
    /// version. The Matching Engine binding moves with it (the new shards send everything).</summary>
    async Task SwitchAsync(ShadowVersion building, CancellationToken stop)
    {
        using var exclusive = await gate.EnterExclusiveAsync(stop);
        var old = state.State;
        if (old.Shadow?.Incarnation != building.Incarnation) return;
        var oldSpec = old.Spec!;
        // What changed on the serving version meanwhile (binding, replicas) carries over.
        var spec = building.Spec with { MatchingEngine = oldSpec.MatchingEngine, Replicas = oldSpec.Replicas };
        var version = old.Version + 1;
        var now = DateTimeOffset.UtcNow;
        await ExchangeAsync(old, spec, building.Incarnation, new ShadowVersion(oldSpec, old.Incarnation, old.Version,
            Building: false), s => s.Reembedding = s.Reembedding! with
            {
                Phase = ReembeddingPhase.Switched,
                TargetVersion = version,
                FinishedAt = now,
            }, stop);
        (copying, copier) = (null, null);
        logger.LogInformation("Catalog {Catalog} switched to version {Version}", this.GetPrimaryKeyString(), version);
    }

    /// <summary>Serves <paramref name="spec"/> from <paramref name="incarnation"/>'s shards with <paramref
    /// name="shadow"/> beside it, in one state write: the Matching Engine binding moves first (the old shards stop
    /// streaming before the new ones send everything), and should the write fail, it moves back.</summary>
    async Task ExchangeAsync(CatalogState old, CatalogSpec spec, string incarnation, ShadowVersion shadow,
        Action<CatalogState> also, CancellationToken cancellationToken)
    {
        var oldSpec = old.Spec!;
        bool bound = oldSpec.MatchingEngine is not null;
        try
        {
            if (bound)
            {
                await BindShardsAsync(oldSpec with { MatchingEngine = null }, old.Incarnation, cancellationToken);
                await BindShardsAsync(spec, incarnation, cancellationToken);
            }
            await PublishAsync(old.With(s =>
            {
                s.Spec = spec;
                s.Incarnation = incarnation;
                s.Version = old.Version + 1;
                s.UpdatedAt = DateTimeOffset.UtcNow;
                s.Shadow = shadow;
                also(s);
            }), cancellationToken);
        }
        catch
        {
            if (bound)
            {
                await BindShardsAsync(spec with { MatchingEngine = null }, incarnation, CancellationToken.None);
                await BindShardsAsync(oldSpec, old.Incarnation, CancellationToken.None);
            }
            throw;
        }
        publicDomain = null;
        // The version set aside keeps its primaries (written, for a rollback) but needs no replicas.
        await RetireReplicasAsync(oldSpec.Shards, old.Incarnation, 1, oldSpec.Replicas);
        await WarmReplicasAsync(spec, incarnation);
    }

    /// <summary>Ends a re-embedding that did not switch: its shards are dropped, the serving version stays.</summary>
    async Task StopAsync(ShadowVersion building, ReembeddingPhase phase, string? error,
        CancellationToken cancellationToken)
    {
        using var exclusive = await gate.EnterExclusiveAsync(cancellationToken);
        if (state.State.Shadow?.Incarnation != building.Incarnation) return;
        var now = DateTimeOffset.UtcNow;
        await PublishAsync(state.State.With(s =>
        {
            s.Shadow = null;
            s.Reembedding = s.Reembedding! with { Phase = phase, FinishedAt = now, Error = error };
        }), CancellationToken.None);
        await DropShardsQuietlyAsync(building.Spec.Shards, building.Incarnation);
        (copying, copier) = (null, null);
    }

    public async Task<CatalogInfo> CancelReembedding(CancellationToken cancellationToken)
    {
        Spec();
        if (state.State.Shadow is not { Building: true } building)
            throw CatalogRequestException.Conflict("No re-embedding runs in this catalog.");
        await StopCopyingAsync();
        await StopAsync(building, ReembeddingPhase.Cancelled, null, CancellationToken.None);
        return (await GetInfo(cancellationToken))!;
    }

    public async Task<CatalogInfo> RollBack(CancellationToken cancellationToken)
    {
        using var exclusive = await gate.EnterExclusiveAsync(cancellationToken);
        var old = state.State;
        Spec();
        if (old.Shadow is not { Building: false } previous)
            throw CatalogRequestException.Conflict(old.Shadow is null
                ? "The catalog has no previous version to roll back to."
                : "The catalog is re-embedding; cancel it instead (POST /v1/catalogs/{catalog}/reembedding:cancel).");
        var spec = previous.Spec with { MatchingEngine = old.Spec!.MatchingEngine, Replicas = old.Spec.Replicas };
        await ExchangeAsync(old, spec, previous.Incarnation,
            new ShadowVersion(old.Spec, old.Incarnation, old.Version, Building: false), _ => { }, cancellationToken);
        logger.LogInformation("Catalog {Catalog} rolled back to the configuration of version {Version}",
            this.GetPrimaryKeyString(), previous.Version);
        return await GetInfoCore(cancellationToken);
    }

    public async Task<CatalogInfo> RetirePrevious(CancellationToken cancellationToken)
    {
        using var exclusive = await gate.EnterExclusiveAsync(cancellationToken);
        Spec();
        if (state.State.Shadow is not { Building: false } previous)
            throw CatalogRequestException.Conflict("The catalog has no previous version.");
        await PublishAsync(state.State.With(s => s.Shadow = null), cancellationToken);
        await DropShardsQuietlyAsync(previous.Spec.Shards, previous.Incarnation);
        return await GetInfoCore(cancellationToken);
    }

    /// <summary>A write as the other version stores it: re-encoded from its image when that version has another
    /// encoder, and with the image bytes wherever the write refers to a kept image only (an import whose image did
    /// not change), since the other version's shards keep images of their own. Refused (409) before anything is
    /// written when a write without an image needs re-encoding.</summary>
    async Task WriteToShadowAsync(CatalogSpec spec, ShadowVersion shadow, ProductWrite[] writes,
        CancellationToken cancellationToken)
    {
        bool reencodes = !SameEncoder(spec.Encoder, shadow.Spec.Encoder);
        var missing = writes.FirstOrDefault(w => reencodes && w.Image is null && w.Datapoint.ImageSha256 is null);
        if (missing is not null)
            throw CatalogRequestException.Conflict($"Datapoint '{missing.Datapoint.Id}' comes without an image, " +
                "but the catalog keeps a version with another encoder (" + (shadow.Building
                    ? "a re-embedding runs" : "the previous one, for a rollback") + "), which needs the image: send " +
                "the image, or " + (shadow.Building ? "wait for the switch." :
                    "retire the previous version (DELETE /v1/catalogs/{catalog}/previous)."));
        var copies = await Task.WhenAll(writes.Select(async w =>
        {
            var image = w.Image;
            var id = w.Datapoint.Id;
            if (image is null && w.Datapoint.ImageSha256 is { } hash)
            {
                var kept = await Shard(ShardOf(id, spec.Shards)).GetImage(id, null, cancellationToken);
                image = kept is not null && kept.ETag == hash ? kept.Bytes
                    : throw CatalogRequestException.Unavailable($"Datapoint '{id}' changed meanwhile: try again.");
            }
            if (!reencodes) return new ProductWrite(w.Datapoint, image);
            var vector = await EncodeAsync(shadow.Spec, image!, $"Datapoint '{id}': ", cancellationToken);
            return new ProductWrite(w.Datapoint with { FeatureVector = vector }, image);
        }));
        await UpsertTo(shadow.Spec, shadow.Incarnation, copies, cancellationToken);
    }
}
