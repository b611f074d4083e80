using System.IO.Hashing;
using System.Text;
using Catalogs.Shards;
using Catalogs.VectorIndex;
using Catalogs.VertexAI;
using Microsoft.Extensions.Logging;
using Orleans.Concurrency;

namespace Catalogs.Grains.Catalogs;

/// <summary>
/// A catalog, keyed <c>tenant/catalog</c>: validates and persists its configuration, routes each product to the
/// shard given by a stable hash of its id, fans searches out to all shards in parallel and merges their top-k.
/// Reentrant: it only awaits shards and encoders, so requests interleave; they share a gate that configuration
/// changes and deletes take exclusively, so no request ever meets a half-changed catalog or a dropped shard.
/// A configuration change of a catalog that holds products re-embeds it into a new version in the background
/// (<c>CatalogGrain.Reembedding.cs</c>).
/// </summary>
[Reentrant]
public sealed partial class CatalogGrain(
    [PersistentState("catalog", CatalogsHosting.StorageName)] IPersistentState<CatalogState> state,
    MatchingEngineClient vertex,
    Microsoft.Extensions.Options.IOptions<CatalogsOptions> options,
    ILogger<CatalogGrain> logger) : Grain, ICatalogGrain
{
    public const int MaxShards = 64, MaxDimensions = 65_536, MaxReplicas = 8;
    readonly AsyncReaderWriterGate gate = new();
    ShardCopies? copies;

    ShardCopies Copies => copies ??= new(GrainFactory, options.Value.HedgeReadsAfter,
        options.Value.RetryReadsFor);

    /// <summary>Replicas start loading as soon as the catalog is in use, not at their first search.</summary>
    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.State.Spec is { } spec) _ = WarmReplicasAsync(spec, state.State.Incarnation);
        // A re-embedding interrupted by a deactivation or a crash goes on where the new version's shards stand.
        if (state.State.Shadow is { Building: true } building) StartCopying(building);
        return Task.CompletedTask;
    }

    string Tenant => this.GetPrimaryKeyString().Split('/')[0];
    string Name => this.GetPrimaryKeyString().Split('/')[1];
    bool Exists => state.State.Spec is not null;

    public async Task<CatalogInfo> Configure(CatalogDraft draft, CancellationToken cancellationToken)
    {
        // Resolved before the gate: it may ask the model and Matching Engine, and requests keep flowing meanwhile.
        var spec = await ResolveAsync(draft, cancellationToken);
        using var exclusive = await gate.EnterExclusiveAsync(cancellationToken);
        var previous = state.State;
        var now = DateTimeOffset.UtcNow;
        if (Exists)
        {
            var current = previous.Spec!;
            // Sent again while it is being built: the same answer as the first time.
            if (previous.Shadow is { Building: true } building && !SameSpec(current, spec))
                return SameSpec(building.Spec, spec) ? await GetInfoCore(cancellationToken) : throw ReembeddingRuns();
            if (SameSpec(current, spec))
            {
                if (current.MatchingEngine == spec.MatchingEngine && current.Replicas == spec.Replicas)
                    return await GetInfoCore(cancellationToken);
                // Only the Matching Engine binding or the replicas changed: allowed with products; shards rebind (a
                // new index gets everything again). Should persisting fail, the shards go back to the old binding.
                if (current.MatchingEngine != spec.MatchingEngine)
                    await BindShardsAsync(spec, previous.Incarnation, cancellationToken);
                try
                {
                    await PublishAsync(new CatalogState
                    {
                        Spec = spec,
                        Version = previous.Version + 1,
                        Incarnation = previous.Incarnation,
                        CreatedAt = previous.CreatedAt,
                        UpdatedAt = now,
                    }, cancellationToken);
                }
                catch
                {
                    if (current.MatchingEngine != spec.MatchingEngine)
                        await BindShardsAsync(current, previous.Incarnation, CancellationToken.None);
                    throw;
                }
                publicDomain = null;
                await RetireReplicasAsync(current.Shards, previous.Incarnation, spec.Replicas, current.Replicas);
                await WarmReplicasAsync(spec, previous.Incarnation);
                return await GetInfoCore(cancellationToken);
            }
            var stats = await ShardStatsAsync(cancellationToken);
            if (stats.Sum(s => s.Products) > 0) return await StartReembeddingAsync(current, spec, stats,
                cancellationToken);
        }
        // A new incarnation (created, or an empty catalog configured anew): its shards are initialised and bound, and
        // only then is the spec persisted and published. Until then the old shards keep serving; any failure drops the
        // new shards and leaves the old state as it was.
        var next = new CatalogState
        {
            Spec = spec,
            Version = previous.Version + 1,
            Incarnation = now.UtcTicks.ToString("x"),
            CreatedAt = Exists ? previous.CreatedAt : now,
            UpdatedAt = now,
        };
        try
        {
            await Task.WhenAll(Enumerable.Range(0, spec.Shards).Select(i => Shard(next.Incarnation, i).Initialize(
                new ShardSettings(i, spec.Metric, spec.Dimensions, spec.Index), cancellationToken)));
            await BindShardsAsync(spec, next.Incarnation, cancellationToken);
            await GrainFactory.GetGrain<ITenantGrain>(Tenant).Add(Name, cancellationToken);
            await PublishAsync(next, cancellationToken);
        }
        catch
        {
            await DropShardsQuietlyAsync(spec.Shards, next.Incarnation);
            throw;
        }
        publicDomain = null;
        if (previous.Spec is { } old)
        {
            await DropShardsQuietlyAsync(old.Shards, previous.Incarnation);
            await RetireReplicasAsync(old.Shards, previous.Incarnation, 1, old.Replicas);
        }
        if (previous.Shadow is { } shadow) await DropShardsQuietlyAsync(shadow.Spec.Shards, shadow.Incarnation);
        await WarmReplicasAsync(spec, next.Incarnation);
        return await GetInfoCore(cancellationToken) with { Created = previous.Spec is null };
    }

    /// <summary>Persists <paramref name="next"/> as the catalog's state; on failure the previous state stays.</summary>
    async Task PublishAsync(CatalogState next, CancellationToken cancellationToken)
    {
        var previous = state.State;
        state.State = next;
        try
        {
            await state.WriteStateAsync(cancellationToken);
        }
        catch
        {
            state.State = previous;
            throw;
        }
    }

    /// <summary>Activates every replica, so that each loads before searches need it; failures only mean it loads
    /// later.</summary>
    async Task WarmReplicasAsync(CatalogSpec spec, string incarnation)
    {
        try
        {
            await EachReplicaAsync(spec.Shards, incarnation, 1, spec.Replicas, r => r.Warm());
        }
        catch (Exception ex)
        {
            logger.LogWarning("Replicas of {Catalog} will load later: {Error}", this.GetPrimaryKeyString(), ex.Message);
        }
    }

    /// <summary>Retires replicas <paramref name="from"/> … <paramref name="to"/> − 1 of every shard.</summary>
    async Task RetireReplicasAsync(int shards, string incarnation, int from, int to)
    {
        try
        {
            await EachReplicaAsync(shards, incarnation, from, to, r => r.Retire());
        }
        catch (Exception ex)
        {
            // A replica left behind serves nobody (searches ask only the copies the catalog has) and retires when
            // its shard is gone.
            logger.LogWarning("Could not retire replicas of {Catalog}: {Error}", this.GetPrimaryKeyString(),
                ex.Message);
        }
    }

    /// <summary><paramref name="call"/> on replicas <paramref name="from"/> … <paramref name="to"/> − 1 of every
    /// shard, all at once.</summary>
    Task EachReplicaAsync(int shards, string incarnation, int from, int to, Func<IShardReplicaGrain, Task> call) =>
        Task.WhenAll(Enumerable.Range(0, shards).SelectMany(i => Enumerable.Range(from, Math.Max(0, to - from))
            .Select(copy => call(Copies.Replica(ShardKey(incarnation, i), copy)))));

    Task DropShardsAsync(int shards, string incarnation, CancellationToken cancellationToken) =>
        Task.WhenAll(Enumerable.Range(0, shards).Select(i => Shard(incarnation, i).Drop(cancellationToken)));

    /// <summary>Drops shards that no state points at any more; a failure leaves only empty files behind.</summary>
    async Task DropShardsQuietlyAsync(int shards, string incarnation)
    {
        try
        {
            await DropShardsAsync(shards, incarnation, CancellationToken.None);
        }
        catch (Exception ex)
        {
            logger.LogWarning(ex, "Could not drop the shards of catalog {Catalog} incarnation {Incarnation}",
                this.GetPrimaryKeyString(), incarnation);
        }
    }

    async Task<CatalogSpec> ResolveAsync(CatalogDraft draft, CancellationToken cancellationToken)
    {
        var metric = Defined(draft.Metric ?? SimilarityMetric.Cosine, "metric");
        int shards = draft.Shards ?? 1;
        if (shards is < 1 or > MaxShards) throw Invalid($"shards must be between 1 and {MaxShards}.");
        int replicas = draft.Replicas ?? options.Value.DefaultReplicas;
        if (replicas is < 1 or > MaxReplicas)
            throw Invalid($"replicas must be between 1 (the primary alone) and {MaxReplicas}.");
        EncoderSpec? encoder = null;
        int dimensions;
        if (draft.Encoder is { } encoderDraft)
        {
            var description = await GrainFactory.GetGrain<IEncoderGrain>(0).Describe(encoderDraft, cancellationToken);
            encoder = description.Spec;
            dimensions = description.Dimensions;
            if (draft.Dimensions is { } given && given != dimensions)
                throw Invalid($"dimensions is {given} but the encoder produces {dimensions}-dimensional embeddings.");
        }
        else
        {
            dimensions = draft.Dimensions
                ?? throw Invalid("A catalog needs an encoder, or dimensions for a vector-only catalog.");
            if (dimensions is < 1 or > MaxDimensions)
                throw Invalid($"dimensions must be between 1 and {MaxDimensions}.");
        }
        var matchingEngine = draft.MatchingEngine is { } me ? await ResolveMatchingEngineAsync(me, metric, dimensions,
            cancellationToken) : null;
        return new CatalogSpec(encoder, metric, dimensions, shards, ResolveIndex(draft.Index, metric), matchingEngine,
            replicas);
    }

    /// <summary>Shards stream their changes into a STREAM_UPDATE index; a BATCH_UPDATE index is loaded by
    /// exports.</summary>
    Task BindShardsAsync(CatalogSpec spec, string incarnation, CancellationToken cancellationToken) =>
        Task.WhenAll(Enumerable.Range(0, spec.Shards).Select(i => Shard(incarnation, i).BindSync(
            spec.MatchingEngine is { IndexUpdateMethod: "STREAM_UPDATE" } me ? me.Index : null, cancellationToken)));

    /// <summary>Settings that arrive as enums from JSON are defined by construction; grain callers are
    /// checked.</summary>
    static T Defined<T>(T value, string name) where T : struct, Enum =>
        Enum.IsDefined(value) ? value : throw Invalid($"{name} {value} is not one of {SpecEnumConverter<T>.Accepted}.");

    /// <summary>Checks a Matching Engine binding: well-formed names, and an index that exists, streams updates, and
    /// matches the catalog's dimensions and metric (read with indexes.get).</summary>
    async Task<MatchingEngineSpec> ResolveMatchingEngineAsync(MatchingEngineSpec me, SimilarityMetric metric,
        int dimensions, CancellationToken cancellationToken)
    {
        if (!ResourceNames.IsIndex(me.Index))
            throw BadBinding($"matchingEngine.index '{me.Index}' is not " +
                $"projects/{{project}}/locations/{{location}}/indexes/{{id}}.");
        if (me.IndexEndpoint is not null && !ResourceNames.IsIndexEndpoint(me.IndexEndpoint))
            throw BadBinding($"matchingEngine.indexEndpoint '{me.IndexEndpoint}' is not " +
                $"projects/{{project}}/locations/{{location}}/indexEndpoints/{{id}}.");
        var routing = Enum.IsDefined(me.QueryRouting) ? me.QueryRouting
            : throw BadBinding($"matchingEngine.queryRouting {me.QueryRouting} is not one of " +
                $"{SpecEnumConverter<QueryRouting>.Accepted}.");
        if (routing != QueryRouting.Local && (me.IndexEndpoint is null || string.IsNullOrEmpty(me.DeployedIndexId)))
            throw BadBinding($"matchingEngine.queryRouting {SpecEnumConverter<QueryRouting>.Name(routing)} needs " +
                $"indexEndpoint and deployedIndexId.");
        IndexResource index;
        try
        {
            index = await vertex.GetIndexAsync(me.Index, cancellationToken);
        }
        catch (GoogleApiException ex) when (!ex.IsTransient)
        {
            throw BadBinding($"matchingEngine.index {me.Index} cannot be used: {ex.Status}: {ex.ApiMessage}");
        }
        catch (Exception ex) when (GoogleApiException.IsTransientFailure(ex)
            && !cancellationToken.IsCancellationRequested)
        {
            throw CatalogRequestException.Unavailable($"Matching Engine cannot be reached to check " +
                $"matchingEngine.index: {ex.Message}");
        }
        var config = index.Metadata.Config ?? throw BadBinding($"matchingEngine.index {me.Index} has no config.");
        if (config.Dimensions != dimensions)
            throw BadBinding($"matchingEngine.index has {config.Dimensions} dimensions; the catalog has {dimensions}.");
        var compatible = metric switch
        {
            SimilarityMetric.Cosine => config.DistanceMeasureType == "COSINE_DISTANCE"
                || (config.DistanceMeasureType == "DOT_PRODUCT_DISTANCE" && config.FeatureNormType == "UNIT_L2_NORM"),
            SimilarityMetric.Dot => config.DistanceMeasureType == "DOT_PRODUCT_DISTANCE",
            SimilarityMetric.SquaredL2 => config.DistanceMeasureType == "SQUARED_L2_DISTANCE",
            _ => config.DistanceMeasureType == "L1_DISTANCE",
        };
        if (!compatible)
        {
            var measure = config.DistanceMeasureType + (config.FeatureNormType is { } n ? " with " + n : "");
            throw BadBinding($"matchingEngine.index measures {measure}, which does not rank like the catalog's " +
                $"metric {SpecEnumConverter<SimilarityMetric>.Name(metric)}.");
        }
        if (index.IndexUpdateMethod is not ("STREAM_UPDATE" or "BATCH_UPDATE"))
            throw BadBinding($"matchingEngine.index has indexUpdateMethod {index.IndexUpdateMethod}; STREAM_UPDATE " +
                $"(live sync) or BATCH_UPDATE (exports) is needed.");
        return me with { QueryRouting = routing, IndexUpdateMethod = index.IndexUpdateMethod };
    }

    static IndexSpec ResolveIndex(IndexDraft? draft, SimilarityMetric metric)
    {
        var d = IndexSpec.Default;
        var index = new IndexSpec(draft?.Kind ?? d.Kind, draft?.M ?? d.M, draft?.EfConstruction ?? d.EfConstruction,
            draft?.EfSearch ?? d.EfSearch,
            draft?.Quantization ?? d.Quantization, draft?.RerankVectors ?? d.RerankVectors);
        Defined(index.Kind, "index.kind");
        var quantization = Defined(index.Quantization ?? IndexQuantization.None, "index.quantization");
        if (Defined(index.RerankVectors ?? RerankStorage.Memory, "index.rerankVectors") == RerankStorage.Mapped
            && quantization != IndexQuantization.Int8)
            throw Invalid("index.rerankVectors mapped needs index.quantization int8 (without it the walk reads the " +
                "float32 vectors themselves).");
        if (quantization == IndexQuantization.Int8 && index.Kind != IndexKind.Hnsw)
            throw Invalid("index.quantization int8 needs index.kind hnsw.");
        if (quantization == IndexQuantization.Int8 && metric == SimilarityMetric.L1)
            throw Invalid("index.quantization int8 serves cosine, dot and squaredL2, not l1.");
        if (index.M is < 4 or > 64) throw Invalid("index.m must be between 4 and 64.");
        if (index.EfConstruction is < 16 or > 2000) throw Invalid("index.efConstruction must be between 16 and 2000.");
        if (index.EfSearch is < 1 or > 10_000) throw Invalid("index.efSearch must be between 1 and 10000.");
        return index;
    }

    /// <summary>Whether two specs give the same vectors and shards (Matching Engine binding and replicas
    /// aside).</summary>
    static bool SameSpec(CatalogSpec a, CatalogSpec b) =>
        a.Metric == b.Metric && a.Dimensions == b.Dimensions && a.Shards == b.Shards &&
        (a.Index ?? IndexSpec.Default).Normalized() == (b.Index ?? IndexSpec.Default).Normalized() &&
        (a.Encoder is null ? b.Encoder is null : a.Encoder.SameAs(b.Encoder));

    public async Task<CatalogInfo?> GetInfo(CancellationToken cancellationToken)
    {
        using var shared = await gate.EnterSharedAsync(cancellationToken);
        return Exists ? await GetInfoCore(cancellationToken) : null;
    }

    async Task<CatalogInfo> GetInfoCore(CancellationToken cancellationToken) => new(
        Name, state.State.Spec!, state.State.Version, state.State.CreatedAt, state.State.UpdatedAt,
            await ShardStatsAsync(cancellationToken), Reembedding: state.State.Reembedding,
            Previous: state.State.Shadow is { Building: false } p ? new PreviousVersion(p.Version, p.Spec) : null);

    async Task<ShardStats[]> ShardStatsAsync(CancellationToken cancellationToken)
    {
        var spec = state.State.Spec!;
        return await Task.WhenAll(Enumerable.Range(0, spec.Shards).Select(async i =>
        {
            var replicas = Task.WhenAll(Enumerable.Range(1, spec.Replicas - 1).Select(copy =>
                ReplicaStatsAsync(i, copy, cancellationToken)));
            var primary = await Shard(i).GetStats(cancellationToken);
            return spec.Replicas == 1 ? primary : primary with { Replicas = await replicas };
        }));
    }

    /// <summary>A replica's stats; one that cannot answer within a second counts as not loaded.</summary>
    async Task<ReplicaStats> ReplicaStatsAsync(int shard, int copy, CancellationToken cancellationToken)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(1));
            return await Copies.Replica(ShardKey(state.State.Incarnation, shard), copy).GetStats(timeout.Token)
                .WaitAsync(timeout.Token);
        }
        catch (Exception ex) when (Unavailability.IsTransient(ex) || ex is OperationCanceledException)
        {
            return new ReplicaStats(copy, null, false, 0, 0, 0);
        }
    }

    public async Task<bool> Drop(CancellationToken cancellationToken)
    {
        using var exclusive = await gate.EnterExclusiveAsync(cancellationToken);
        if (!Exists) return false;
        training?.Cancel();
        await StopCopyingAsync();
        if (state.State.Shadow is { } shadow)
            await DropShardsAsync(shadow.Spec.Shards, shadow.Incarnation, cancellationToken);
        var dropped = state.State.Spec!;
        await DropShardsAsync(dropped.Shards, state.State.Incarnation, cancellationToken);
        await RetireReplicasAsync(dropped.Shards, state.State.Incarnation, 1, dropped.Replicas);
        await state.ClearStateAsync(cancellationToken);
        await GrainFactory.GetGrain<ITenantGrain>(Tenant).Remove(Name, cancellationToken);
        return true;
    }

    public async Task Upsert(Datapoint[] datapoints, CancellationToken cancellationToken)
    {
        using var shared = await gate.EnterSharedAsync(cancellationToken);
        await UpsertCore(Spec(), datapoints.Select(p => new ProductWrite(p)).ToArray(), cancellationToken);
    }

    public async Task Write(ProductWrite[] writes, CancellationToken cancellationToken)
    {
        using var shared = await gate.EnterSharedAsync(cancellationToken);
        var spec = Spec();
        var encodings = await Task.WhenAll(writes.Select(async w => w.Image is null ? null
            : await EncodeProductAsync(spec, w.Image, $"Datapoint '{w.Datapoint.Id}': ", cancellationToken)));
        // The shards keep the images too, as the products' originals.
        var encoded = writes.Select((w, i) => encodings[i] is not { } e ? w
            : w with { Datapoint = w.Datapoint with { FeatureVector = e.Vector, Color = e.Color } });
        await UpsertCore(spec, encoded.ToArray(), cancellationToken);
    }

    public async Task<ImportOutcome[]> Import(ProductWrite[] writes, CancellationToken cancellationToken)
    {
        using var shared = await gate.EnterSharedAsync(cancellationToken);
        var spec = Spec();
        var outcomes = new ImportOutcome[writes.Length];
        var stored = await GetManyCore(spec, writes.Select(w => w.Datapoint.Id).ToArray(), cancellationToken);
        var toWrite = await Task.WhenAll(writes.Select(async (w, i) =>
        {
            try
            {
                var (write, encode) = ImportPlanner.Plan(w, stored[i]);
                if (write is null) outcomes[i] = ImportOutcome.Unchanged;
                else if (encode)
                {
                    var e = await EncodeProductAsync(spec, write.Image!, "", cancellationToken);
                    write = write with
                    {
                        Datapoint = write.Datapoint with { FeatureVector = e.Vector, Color = e.Color },
                    };
                }
                if (write is not null && write.Datapoint.FeatureVector.Length != spec.Dimensions)
                    throw Invalid($"It has {write.Datapoint.FeatureVector.Length} dimensions; the catalog has " +
                        $"{spec.Dimensions}.");
                return write;
            }
            catch (CatalogRequestException ex) when (ex.Error is not CatalogError.Unavailable)
            {
                outcomes[i] = new ImportOutcome(ImportRowStatus.Failed, ex.Message);
                return null;
            }
        }));
        await UpsertCore(spec, toWrite.OfType<ProductWrite>().ToArray(), cancellationToken);
        for (int i = 0; i < outcomes.Length; i++) outcomes[i] ??= ImportOutcome.Written;
        return outcomes;
    }

    /// <summary>Stored products from the serving version's primaries, in the order of <paramref
    /// name="ids"/>.</summary>
    Task<Datapoint?[]> GetManyCore(CatalogSpec spec, string[] ids, CancellationToken cancellationToken) =>
        GetManyFrom(spec, state.State.Incarnation, ids, cancellationToken);

    /// <summary>Stored products from the primaries of one version's shards, in the order of <paramref
    /// name="ids"/>.</summary>
    async Task<Datapoint?[]> GetManyFrom(CatalogSpec spec, string incarnation, string[] ids,
        CancellationToken cancellationToken)
    {
        var found = new Dictionary<string, Datapoint?>(StringComparer.Ordinal);
        foreach (var group in await Task.WhenAll(ids.Distinct().GroupBy(id => ShardOf(id, spec.Shards))
            .Select(async g => g.Zip(await Shard(incarnation, g.Key).GetMany(g.ToArray(), cancellationToken)))))
            foreach (var (id, product) in group) found[id] = product;
        return ids.Select(id => found[id]).ToArray();
    }

    /// <summary>Writes to the serving version and to the other one there may be (<see cref="WriteToShadowAsync"/>),
    /// that one first: a write that fails after it reached only the other version was not acknowledged, while the
    /// reverse order could lose an acknowledged write at the switch.</summary>
    async Task UpsertCore(CatalogSpec spec, ProductWrite[] writes, CancellationToken cancellationToken)
    {
        // Checked here for the whole batch before any shard writes, so a bad datapoint refuses all of them.
        // (The API host has checked each vector's components; only the catalog knows its dimensions.)
        foreach (var p in writes.Select(w => w.Datapoint))
            if (p.FeatureVector.Length != spec.Dimensions)
                throw Invalid($"Datapoint '{p.Id}' has {p.FeatureVector.Length} dimensions; " +
                    $"the catalog has {spec.Dimensions}.");
        using var order = await writeOrder.EnterSharedAsync(cancellationToken);
        if (state.State.Shadow is { } shadow) await WriteToShadowAsync(spec, shadow, writes, cancellationToken);
        await UpsertTo(spec, state.State.Incarnation, writes, cancellationToken);
    }

    Task UpsertTo(CatalogSpec spec, string incarnation, ProductWrite[] writes, CancellationToken cancellationToken) =>
        Task.WhenAll(writes.GroupBy(w => ShardOf(w.Datapoint.Id, spec.Shards))
            .Select(g => Shard(incarnation, g.Key).Upsert(g.ToArray(), cancellationToken)));

    /// <summary>One image through the catalog's encoder; a refusal names what it was for.</summary>
    Task<float[]> EncodeAsync(CatalogSpec spec, byte[] image, string what, CancellationToken cancellationToken) =>
        Encoded(spec, what, async (grain, encoder) => (await grain.Encode(encoder, [image], cancellationToken))[0]);

    /// <summary>A product image through the catalog's encoder: its embedding and its colours.</summary>
    Task<ProductEncoding> EncodeProductAsync(CatalogSpec spec, byte[] image, string what,
        CancellationToken cancellationToken) => Encoded(spec, what, async (grain, encoder) =>
            (await grain.EncodeProducts(encoder, [image], cancellationToken))[0]);

    /// <summary>A call to the encoder grain with the catalog's encoder; a refusal names what it was for.</summary>
    async Task<T> Encoded<T>(CatalogSpec spec, string what, Func<IEncoderGrain, EncoderSpec, Task<T>> call)
    {
        var encoder = spec.Encoder ?? throw Invalid(
            $"Catalog '{Name}' is vector-only (it has no encoder): send featureVector instead of an image.");
        try
        {
            return await call(GrainFactory.GetGrain<IEncoderGrain>(0), encoder);
        }
        catch (CatalogRequestException ex) when (what.Length > 0)
        {
            throw new CatalogRequestException(ex.Error, what + ex.Message);
        }
    }

    public async Task<bool> Remove(string id, CancellationToken cancellationToken)
    {
        using var shared = await gate.EnterSharedAsync(cancellationToken);
        var spec = Spec();
        using var order = await writeOrder.EnterSharedAsync(cancellationToken);
        if (state.State.Shadow is { } shadow)
            await Shard(shadow.Incarnation, ShardOf(id, shadow.Spec.Shards)).Remove(id, cancellationToken);
        return await Shard(ShardOf(id, spec.Shards)).Remove(id, cancellationToken);
    }

    public async Task<CatalogFacets> GetFacets(int maxTokens, CancellationToken cancellationToken)
    {
        using var shared = await gate.EnterSharedAsync(cancellationToken);
        var spec = Spec();
        return CatalogFacets.Merge(await Task.WhenAll(Enumerable.Range(0, spec.Shards).Select(i =>
            Shard(i).GetFacets(CatalogFacets.MaxTokens, cancellationToken))), maxTokens);
    }

    public async Task<Datapoint?> Get(string id, CancellationToken cancellationToken)
    {
        using var shared = await gate.EnterSharedAsync(cancellationToken);
        return await GetCore(Spec(), id, cancellationToken);
    }

    /// <summary>A product from its shard's primary, or from a replica while the primary cannot answer.</summary>
    Task<Datapoint?> GetCore(CatalogSpec spec, string id, CancellationToken cancellationToken)
    {
        int shard = ShardOf(id, spec.Shards);
        return Copies.ReadAsync(ShardKey(state.State.Incarnation, shard), spec.Replicas, ReadConsistency.Eventual,
            primaryFirst: true, c => c.Get(id, cancellationToken), cancellationToken);
    }

    public async Task<ProductImage?> GetImage(string id, int? size, CancellationToken cancellationToken)
    {
        using var shared = await gate.EnterSharedAsync(cancellationToken);
        return await Shard(ShardOf(id, Spec().Shards)).GetImage(id, size, cancellationToken);
    }

    public async Task<SearchHit[]> Search(SearchQuery query, CancellationToken cancellationToken)
    {
        using var shared = await gate.EnterSharedAsync(cancellationToken);
        QueryFits(Spec(), query);
        var (hits, missing) = await SearchCore(query, cancellationToken);
        // This answer cannot say it is partial: it must not be.
        return missing.Length == 0 ? hits : throw Unreachable(missing);
    }

    /// <summary>Every shard's hits merged; shards that cannot be reached now (a silo died, a store fails over) are
    /// left out and named, so the answer says it is partial. None reachable: 503.</summary>
    async Task<(SearchHit[] Hits, int[] Missing)> SearchCore(SearchQuery query, CancellationToken cancellationToken)
    {
        var spec = Spec();
        var perShard = await Task.WhenAll(Enumerable.Range(0, spec.Shards).Select(async i =>
        {
            try
            {
                return await Copies.ReadAsync(ShardKey(state.State.Incarnation, i), spec.Replicas, query.Consistency,
                    primaryFirst: false, c => c.Search(query, cancellationToken), cancellationToken);
            }
            catch (Exception ex) when (Unavailability.IsTransient(ex) && !cancellationToken.IsCancellationRequested)
            {
                logger.LogWarning("Shard {Shard} of {Catalog} cannot be reached: {Error}", i, Name, ex.Message);
                return null;
            }
        }));
        var missing = Enumerable.Range(0, perShard.Length).Where(i => perShard[i] is null).ToArray();
        if (missing.Length == perShard.Length) throw Unreachable(missing);
        // Each shard returns its crowded top-k, which provably contains its share of the global crowded top-k.
        return (perShard.Length == 1 ? perShard[0]! : TopK(perShard.SelectMany(h => h ?? []), query), missing);
    }

    /// <summary>A query the catalog can answer: its vector has the catalog's dimensions (checked once, before any
    /// shard or Matching Engine is asked).</summary>
    static void QueryFits(CatalogSpec spec, SearchQuery query)
    {
        if (query.Vector.Length == 0 && query.Text is not null) return; // text alone
        if (query.Vector.Length != spec.Dimensions)
            throw Invalid($"The query vector has {query.Vector.Length} dimensions; the catalog has {spec.Dimensions}.");
    }

    static CatalogRequestException Unreachable(int[] shards) => CatalogRequestException.Unavailable(
        $"Shards {string.Join(", ", shards)} of the catalog cannot be reached right now; retry shortly.");

    /// <summary>The query's crowded top-k of <paramref name="hits"/>; an id met again keeps its first hit.</summary>
    static SearchHit[] TopK(IEnumerable<SearchHit> hits, SearchQuery query)
    {
        var collector = new ResultCollector(query.NeighborCount, query.PerCrowdingAttributeNeighborCount);
        var byId = new Dictionary<string, SearchHit>(StringComparer.Ordinal);
        foreach (var hit in hits)
            if (byId.TryAdd(hit.Id, hit)) collector.Add(hit.Id, hit.Distance, hit.Datapoint.CrowdingTag);
        return collector.ToList().Select(n => byId[n.Id]).ToArray();
    }

    string? publicDomain;

    public async Task<SearchResult> Query(SearchQuery query, CancellationToken cancellationToken)
    {
        using var shared = await gate.EnterSharedAsync(cancellationToken);
        return await QueryCore(query, cancellationToken);
    }

    async Task<SearchResult> QueryCore(SearchQuery query, CancellationToken cancellationToken)
    {
        var spec = Spec();
        if (query.Text is not null) return await TextQueryAsync(spec, query, cancellationToken);
        var routing = Defined(query.Routing ?? spec.MatchingEngine?.QueryRouting ?? QueryRouting.Local, "routing");
        var me = spec.MatchingEngine;
        if (routing == QueryRouting.Local)
        {
            QueryFits(spec, query);
            var (hits, missing) = await SearchCore(query, cancellationToken);
            return new SearchResult(hits, QueryRouting.Local, MissingShards: missing);
        }
        if (me?.IndexEndpoint is null || me.DeployedIndexId is null)
            throw Invalid($"routing {SpecEnumConverter<QueryRouting>.Name(routing)} needs the catalog's " +
                $"matchingEngine binding with indexEndpoint and deployedIndexId.");
        QueryFits(spec, query);

        var local = routing == QueryRouting.Hybrid ? SearchCore(query, cancellationToken) : null;
        SearchHit[] remote;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.Value.MatchingEngineQueryTimeout);
            remote = await MatchingEngineSearchAsync(spec, me, query, timeout.Token);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && (ex is GoogleApiException
            || GoogleApiException.IsTransientFailure(ex)))
        {
            var reason = ex is OperationCanceledException
                ? $"no answer within {options.Value.MatchingEngineQueryTimeout.TotalMilliseconds:F0} ms" : ex.Message;
            var (hits, missing) = await (local ?? SearchCore(query, cancellationToken));
            return new SearchResult(hits, QueryRouting.Local, Degraded: true,
                Warning: $"Matching Engine failed ({reason}); the local index answered.", MissingShards: missing);
        }
        if (local is null) return new SearchResult(remote, QueryRouting.MatchingEngine);
        // Both, merged: local hits are current by definition (they come first, so they win); Matching Engine adds what
        // the local walk missed.
        var (localHits, localMissing) = await local;
        return new SearchResult(TopK(localHits.Concat(remote), query), QueryRouting.Hybrid,
            MissingShards: localMissing);
    }

    /// <summary>A search with text, on the local shards: the text's BM25 ranking alone, or fused with the vector's
    /// by reciprocal rank fusion (each side's 2 × k best, at least 50, fused, then crowded).</summary>
    async Task<SearchResult> TextQueryAsync(CatalogSpec spec, SearchQuery query, CancellationToken cancellationToken)
    {
        if (query.Routing == QueryRouting.Hybrid)
            throw Invalid("routing hybrid merges by vector distance and does not take text: use local or " +
                "matchingEngine.");
        QueryFits(spec, query);
        var routing = Defined(query.Routing ?? spec.MatchingEngine?.QueryRouting ?? QueryRouting.Local, "routing");
        if (routing == QueryRouting.MatchingEngine)
        {
            if (spec.MatchingEngine is not { IndexEndpoint: not null, DeployedIndexId: not null } me)
                throw Invalid("routing matchingEngine needs the catalog's matchingEngine binding with indexEndpoint " +
                    "and deployedIndexId.");
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(options.Value.MatchingEngineQueryTimeout);
                return new SearchResult(await MatchingEngineTextAsync(spec, me, query, timeout.Token),
                    QueryRouting.MatchingEngine);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && (ex is GoogleApiException
                || GoogleApiException.IsTransientFailure(ex)))
            {
                var local = await TextQueryAsync(spec, query with { Routing = QueryRouting.Local }, cancellationToken);
                return local with
                {
                    Degraded = true,
                    Warning = $"Matching Engine failed ({ex.Message}); the local " +
                    "index answered."
                };
            }
        }
        if (query.Vector.Length == 0)
        {
            var (hits, missing) = await SearchCore(query, cancellationToken);
            return new SearchResult(hits, QueryRouting.Local, MissingShards: missing);
        }
        int wide = Math.Min(1000, Math.Max(50, 2 * query.NeighborCount));
        var side = query with { NeighborCount = wide, PerCrowdingAttributeNeighborCount = null };
        var dense = SearchCore(side with { Text = null }, cancellationToken);
        var sparse = SearchCore(side with { Vector = [] }, cancellationToken);
        var ((denseHits, denseMissing), (sparseHits, sparseMissing)) = (await dense, await sparse);
        var byId = new Dictionary<string, SearchHit>(StringComparer.Ordinal);
        foreach (var hit in denseHits.Concat(sparseHits)) byId.TryAdd(hit.Id, hit);
        var fused = Text.RankFusion.Fuse(denseHits.Select(h => h.Id).ToArray(), sparseHits.Select(h => h.Id).ToArray(),
            query.RrfAlpha ?? 0.5);
        return new SearchResult(TopK(fused.Select(f => byId[f.Id] with { Distance = (float)-f.Score }), query),
            QueryRouting.Local, MissingShards: denseMissing.Union(sparseMissing).Order().ToArray());
    }

    /// <summary>The deployed index's public domain (read once from the endpoint).</summary>
    async Task<string> PublicDomainAsync(MatchingEngineSpec me, CancellationToken cancellationToken) =>
        publicDomain ??= me.PublicEndpointDomain ?? (await vertex.GetIndexEndpointAsync(me.IndexEndpoint!,
            cancellationToken)).PublicEndpointDomainName
            ?? throw new GoogleApiException(System.Net.HttpStatusCode.FailedDependency, "FAILED_PRECONDITION",
                "The index endpoint has no public domain.");

    /// <summary>A text (or text + vector) search on Matching Engine: the text as a sparse embedding (each analyzed
    /// term weighted 1; the products' side holds their saturated term frequencies, so the score sums those of the
    /// query's terms), fused by Matching Engine with the vector by RRF. Its order is kept; products deleted or no
    /// longer matching the filters locally are dropped, and the distance is minus the fused score of the
    /// rank.</summary>
    async Task<SearchHit[]> MatchingEngineTextAsync(CatalogSpec spec, MatchingEngineSpec me, SearchQuery query,
        CancellationToken cancellationToken)
    {
        var domain = await PublicDomainAsync(me, cancellationToken);
        var terms = Text.TextAnalyzer.Terms(query.Text).Select(Text.SparseEmbedding.TermId).Distinct().Order()
            .ToArray();
        var datapoint = new IndexDatapoint("query", query.Vector.Length > 0 ? query.Vector : null,
            FilterMapping.ToVertex(query.Restricts), FilterMapping.ToVertex(query.NumericRestricts, query: true),
            SparseEmbedding: new VertexAI.SparseEmbedding(terms.Select(_ => 1f).ToArray(), terms));
        int asked = NeighborsToAsk(query);
        var response = await vertex.FindNeighborsAsync(domain, me.IndexEndpoint!, new FindNeighborsRequest(
            me.DeployedIndexId!, [new NeighborQuery(datapoint, asked, query.PerCrowdingAttributeNeighborCount,
                Rrf: query.Vector.Length > 0 ? new Rrf((float)(query.RrfAlpha ?? 0.5)) : null)]), cancellationToken);
        var ids = response.NearestNeighbors?.FirstOrDefault()?.Neighbors?.Select(n => n.Datapoint.DatapointId)
            .Where(id => !query.Excludes(id)).Distinct().ToArray() ?? [];
        var current = await GetManyFrom(spec, state.State.Incarnation, ids, cancellationToken);
        var filter = FilterMapping.ToFilter(query);
        return ids.Select((id, r) => (Id: id, Rank: r, Product: current[r]))
            .Where(x => x.Product is not null && filter.Matches(FilterMapping.ToAttributes(x.Product)))
            .Take(query.NeighborCount)
            .Select(x => new SearchHit(x.Id, -1f / (Text.RankFusion.K + x.Rank + 1),
                query.ReturnVectors ? x.Product! : x.Product! with { FeatureVector = [] })).ToArray();
    }

    /// <summary>How many neighbours to ask Matching Engine for: a few more than the query wants, since some may be
    /// dropped as deleted, filtered or excluded locally.</summary>
    static int NeighborsToAsk(SearchQuery query) => query.NeighborCount + Math.Max(5, query.NeighborCount / 2)
        + (query.ExcludeId is null ? 0 : 1) + (query.ExcludeIds?.Length ?? 0);

    /// <summary>findNeighbors on the deployed index, then every hit checked against the shards: products deleted
    /// locally are dropped, and the rest are re-scored and re-filtered with their current local version, so a change
    /// not yet synced never shows its stale Matching Engine result.</summary>
    async Task<SearchHit[]> MatchingEngineSearchAsync(CatalogSpec spec, MatchingEngineSpec me, SearchQuery query,
        CancellationToken cancellationToken)
    {
        var domain = await PublicDomainAsync(me, cancellationToken);
        int asked = NeighborsToAsk(query);
        var datapoint = new IndexDatapoint("query", query.Vector, FilterMapping.ToVertex(query.Restricts),
            FilterMapping.ToVertex(query.NumericRestricts, query: true));
        var response = await vertex.FindNeighborsAsync(domain, me.IndexEndpoint!,
            new FindNeighborsRequest(me.DeployedIndexId!,
            [new NeighborQuery(datapoint, asked, query.PerCrowdingAttributeNeighborCount,
                query.ApproximateNeighborCount is int a ? Math.Max(a, asked) : null,
                    query.FractionLeafNodesToSearchOverride)]), cancellationToken);
        var ids = response.NearestNeighbors?.FirstOrDefault()?.Neighbors?.Select(n =>
            n.Datapoint.DatapointId).Where(id => !query.Excludes(id)).Distinct().ToArray() ?? [];
        var current = await Task.WhenAll(ids.GroupBy(id => ShardOf(id, spec.Shards)).Select(async g =>
        {
            var group = g.ToArray();
            return group.Zip(await Shard(g.Key).GetMany(group, cancellationToken));
        }));
        var metric = FilterMapping.ToDistance(spec.Metric);
        var filter = FilterMapping.ToFilter(query);
        var q = query.Vector.ToArray();
        if (metric == DistanceMetric.Cosine) VectorMath.NormalizeInPlace(q);
        var hits = new List<SearchHit>();
        foreach (var (id, product) in current.SelectMany(g => g))
        {
            if (product is null || !filter.Matches(FilterMapping.ToAttributes(product))) continue;
            var v = product.FeatureVector.ToArray();
            if (metric == DistanceMetric.Cosine) VectorMath.NormalizeInPlace(v);
            hits.Add(new SearchHit(id, VectorMath.Distance(metric, q, v), product));
        }
        return TopK(hits, query);
    }

    public async Task<ExportResult> Export(string gcsPrefix, bool delta, CancellationToken cancellationToken)
    {
        using var shared = await gate.EnterSharedAsync(cancellationToken);
        var spec = Spec();
        var me = spec.MatchingEngine ?? throw BadBinding("The catalog has no matchingEngine binding to export to.");
        if (!ResourceNames.IsGcsUri(gcsPrefix)) throw BadBinding($"'{gcsPrefix}' is not a gs://bucket/prefix URI.");
        var (bucket, prefix) = ResourceNames.SplitGcsUri(gcsPrefix);
        // A fresh folder per export: Vertex reads every object under contentsDeltaUri (removals under delete/).
        var parent = prefix.Length > 0 ? prefix.TrimEnd('/') + "/" : "";
        var folder = $"{parent}{Name}-{DateTimeOffset.UtcNow:yyyyMMddTHHmmssfff}";
        try
        {
            var parts = await Task.WhenAll(Enumerable.Range(0, spec.Shards).Select(i =>
                Shard(i).ExportTo(bucket, $"{folder}/part-{i:D5}.json", $"{folder}/delete/part-{i:D5}.txt", delta,
                    cancellationToken)));
            var uri = $"gs://{bucket}/{folder}";
            if (delta && parts.All(p => p.Objects.Length == 0))
                // nothing changed: nothing to patch
                return new ExportResult(uri, [], 0, "", Applied: true, Removals: 0, Delta: true);
            var operation = await vertex.PatchIndexMetadataAsync(me.Index, new IndexMetadata(ContentsDeltaUri: uri,
                IsCompleteOverwrite: !delta), cancellationToken);
            var done = await vertex.WaitAsync(operation, cancellationToken);
            // Only now does Matching Engine hold each shard's state as of its export: the next delta starts there.
            await Task.WhenAll(parts.Select((p, i) => Shard(i).CommitExport(p.Sequence, cancellationToken)));
            return new ExportResult(uri, parts.SelectMany(p => p.Objects).Select(o => $"gs://{bucket}/{o}").ToArray(),
                parts.Sum(p => p.Upserts), done.Name, done.Done, parts.Sum(p => p.Removals), delta);
        }
        catch (GoogleApiException ex) when (!ex.IsTransient)
        {
            throw BadBinding($"The export was refused: {ex.Status}: {ex.ApiMessage}");
        }
        catch (Exception ex) when (GoogleApiException.IsTransientFailure(ex)
            && !cancellationToken.IsCancellationRequested)
        {
            throw CatalogRequestException.Unavailable($"The export could not reach Google Cloud: {ex.Message}");
        }
    }

    public async Task<DeadLetter[]> GetDeadLetters(CancellationToken cancellationToken)
    {
        using var shared = await gate.EnterSharedAsync(cancellationToken);
        var spec = Spec();
        var all = await Task.WhenAll(Enumerable.Range(0, spec.Shards).Select(i =>
            Shard(i).GetDeadLetters(cancellationToken)));
        return all.SelectMany(d => d).OrderBy(d => d.At).ToArray();
    }

    /// <summary>Stable across processes and restarts (unlike string.GetHashCode), so a product always lands on one
    /// shard.</summary>
    public static int ShardOf(string id, int shards) =>
        (int)(XxHash32.HashToUInt32(Encoding.UTF8.GetBytes(id)) % (uint)shards);

    IShardGrain Shard(int i) => Shard(state.State.Incarnation, i);

    IShardGrain Shard(string incarnation, int i) => GrainFactory.GetGrain<IShardGrain>(ShardKey(incarnation, i));

    string ShardKey(string incarnation, int i) => $"{Tenant}/{Name}/{incarnation}/{i}";

    CatalogSpec Spec() => state.State.Spec
        ?? throw CatalogRequestException.NotFound($"Catalog '{Name}' does not exist.");

    static CatalogRequestException Invalid(string message) => CatalogRequestException.Invalid(message);

    /// <summary>A Matching Engine binding or export request that Vertex AI itself would refuse as an invalid
    /// argument, before looking at any catalog: refused the same way.</summary>
    static CatalogRequestException BadBinding(string message) => CatalogRequestException.Malformed(message);
}
