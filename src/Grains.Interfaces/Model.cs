namespace Catalogs.Grains;

/// <summary>A catalog's encoder with every field resolved (defaults filled in from the model's needs).
/// <c>Head</c>: the SHA-256 of a linear head tuned on a catalog's labels (its training's result), applied to the
/// backbone's embedding; null for the backbone alone.</summary>
[GenerateSerializer, Alias("Catalogs.EncoderSpec")]
public sealed record EncoderSpec(
    [property: Id(0)] string Model,
    [property: Id(1)] string Input,
    [property: Id(2)] string Output,
    [property: Id(3)] int InputSize,
    [property: Id(4)] EncoderResize Resize,
    [property: Id(5)] float[] Mean,
    [property: Id(6)] float[] Std,
    [property: Id(7)] EncoderChannelOrder ChannelOrder,
    [property: Id(8)] EncoderPooling Pooling,
    [property: Id(9)] bool Dequantize,
    [property: Id(10)] bool Normalize,
    [property: Id(11)] float CropFraction = 1f,
    [property: Id(12)] string? Head = null)
{
    /// <summary>Whether two specs produce the same embeddings (arrays compared by value).</summary>
    public bool SameAs(EncoderSpec? other) => other is not null && Model == other.Model && Input == other.Input
        && Output == other.Output
        && InputSize == other.InputSize && Resize == other.Resize && Mean.SequenceEqual(other.Mean)
            && Std.SequenceEqual(other.Std)
        && ChannelOrder == other.ChannelOrder && Pooling == other.Pooling && Dequantize == other.Dequantize
            && Normalize == other.Normalize && CropFraction == other.CropFraction && Head == other.Head;
}

/// <summary>A catalog's resolved configuration. <see cref="Encoder"/> is null for vector-only catalogs.
/// <see cref="Replicas"/>: the copies of each shard that answer searches, the primary included (2: the primary and
/// one read replica, on another silo).</summary>
[GenerateSerializer, Alias("Catalogs.CatalogSpec")]
public sealed record CatalogSpec(
    [property: Id(0)] EncoderSpec? Encoder,
    [property: Id(1)] SimilarityMetric Metric,
    [property: Id(2)] int Dimensions,
    [property: Id(3)] int Shards,
    [property: Id(4)] IndexSpec? Index = null,
    [property: Id(5)] MatchingEngineSpec? MatchingEngine = null,
    [property: Id(6)] int Replicas = 1);

/// <summary>
/// A catalog mirrored into a Vertex AI Vector Search index: every acknowledged upsert and delete is streamed to
/// <c>Index</c> when it is a STREAM_UPDATE index (a BATCH_UPDATE index is loaded by exports); queries go to the local
/// shards, to the deployed index, or to both (<c>QueryRouting</c>: <c>local</c>, <c>matchingEngine</c>, <c>hybrid</c>).
/// May be added, changed or removed while the catalog holds products. <c>IndexUpdateMethod</c> is read from the index.
/// </summary>
[GenerateSerializer, Alias("Catalogs.MatchingEngineSpec")]
public sealed record MatchingEngineSpec(
    [property: Id(0)] string Index,
    [property: Id(1)] string? IndexEndpoint = null,
    [property: Id(2)] string? DeployedIndexId = null,
    [property: Id(3)] string? PublicEndpointDomain = null,
    [property: Id(4)] QueryRouting QueryRouting = QueryRouting.Local,
    [property: Id(5)] string? IndexUpdateMethod = null);

/// <summary>An export of a whole catalog to Cloud Storage as Vertex JSONL (one object per shard under
/// <c>ContentsDeltaUri</c>), applied to the bound index with <c>indexes.patch</c> (complete overwrite).</summary>
[GenerateSerializer, Alias("Catalogs.ExportResult")]
public sealed record ExportResult(
    [property: Id(0)] string ContentsDeltaUri,
    [property: Id(1)] string[] Objects,
    [property: Id(2)] long Datapoints,
    [property: Id(3)] string Operation,
    [property: Id(4)] bool Applied,
    [property: Id(5)] long Removals = 0,
    [property: Id(6)] bool Delta = false);

/// <summary>What one shard exported: as of which log sequence, how many upserts and removals, which objects.</summary>
[GenerateSerializer, Alias("Catalogs.ShardExport")]
public sealed record ShardExport(
    [property: Id(0)] long Sequence,
    [property: Id(1)] long Upserts,
    [property: Id(2)] long Removals,
    [property: Id(3)] string[] Objects);

/// <summary>The shards' index: <c>hnsw</c> (approximate, the default) or <c>exact</c> (brute force), with HNSW's
/// parameters and what its walk reads: <c>none</c> (float32) or <c>int8</c> (codes, re-ranked with float32).</summary>
[GenerateSerializer, Alias("Catalogs.IndexSpec")]
public sealed record IndexSpec(
    [property: Id(0)] IndexKind Kind,
    [property: Id(1)] int M,
    [property: Id(2)] int EfConstruction,
    [property: Id(3)] int EfSearch,
    [property: Id(4)] IndexQuantization? Quantization = null,
    [property: Id(5)] RerankStorage? RerankVectors = null)
{
    public static readonly IndexSpec Default = new(IndexKind.Hnsw, 16, 200, 64, IndexQuantization.None,
        RerankStorage.Memory);

    /// <summary>This spec with absent fields (from specs stored before they existed) set to their defaults.</summary>
    public IndexSpec Normalized() => this with
    {
        Quantization = Quantization ?? IndexQuantization.None,
        RerankVectors = RerankVectors ?? RerankStorage.Memory,
    };
}

/// <summary>An index as requested: null fields take <see cref="IndexSpec.Default"/>'s values.</summary>
[GenerateSerializer, Alias("Catalogs.IndexDraft")]
public sealed record IndexDraft(
    [property: Id(0)] IndexKind? Kind = null,
    [property: Id(1)] int? M = null,
    [property: Id(2)] int? EfConstruction = null,
    [property: Id(3)] int? EfSearch = null,
    [property: Id(4)] IndexQuantization? Quantization = null,
    [property: Id(5)] RerankStorage? RerankVectors = null);

/// <summary>A shard's state. <c>IndexOrigin</c>: <c>built</c> (from the products at activation), <c>snapshot</c>
/// (its saved graph, loaded, with <c>IndexReconciled</c> records brought up to date from the products) or
/// <c>promoted</c> (a read replica on this silo became the primary in place). <c>Silo</c>: where the primary runs;
/// <c>Replicas</c>: its read replicas. <c>WithoutImage</c>: products stored without an original image (their vectors
/// were given), which a new encoder cannot re-embed. <c>LeaseEpoch</c>: the primary's lease, raised by one each time a
/// primary opens the shard (first activation, failover, move, reopening after a store failure).</summary>
[GenerateSerializer, Alias("Catalogs.ShardStats")]
public sealed record ShardStats(
    [property: Id(0)] int Shard,
    [property: Id(1)] int Products,
    [property: Id(2)] long LastSequence,
    [property: Id(3)] long SnapshotSequence,
    [property: Id(4)] string IndexOrigin = "built",
    [property: Id(5)] int IndexReconciled = 0,
    [property: Id(6)] SyncStats? Sync = null,
    [property: Id(7)] string? Silo = null,
    [property: Id(8)] IReadOnlyList<ReplicaStats>? Replicas = null,
    [property: Id(9)] long IndexBytes = 0,
    [property: Id(10)] long IndexMappedBytes = 0,
    [property: Id(11)] long StoredBytes = 0,
    [property: Id(12)] int WithoutImage = 0,
    [property: Id(13)] long LeaseEpoch = 0);

/// <summary>A read replica of a shard: where it runs, how far it has applied the log, how stale it may be (the age
/// of the newest state it is known to hold), and whether it has loaded (only a loaded replica answers).</summary>
[GenerateSerializer, Alias("Catalogs.ReplicaStats")]
public sealed record ReplicaStats(
    [property: Id(0)] int Copy,
    [property: Id(1)] string? Silo,
    [property: Id(2)] bool Loaded,
    [property: Id(3)] long LastSequence,
    [property: Id(4)] double StalenessSeconds,
    [property: Id(5)] int Products);

/// <summary>A shard's mirror into Matching Engine: the last log sequence in effect there, what waits (records, and
/// the age of the oldest), rejected datapoints, and the last error (null once a batch went through).</summary>
[GenerateSerializer, Alias("Catalogs.SyncStats")]
public sealed record SyncStats(
    [property: Id(0)] string Index,
    [property: Id(1)] long Cursor,
    [property: Id(2)] int Backlog,
    [property: Id(3)] double LagSeconds,
    [property: Id(4)] int DeadLetters,
    [property: Id(5)] long Sent,
    [property: Id(6)] string? LastError);

/// <summary>A change Matching Engine rejected (never retried, kept until the catalog is rebound).</summary>
[GenerateSerializer, Alias("Catalogs.DeadLetter")]
public sealed record DeadLetter(
    [property: Id(0)] string Id,
    [property: Id(1)] long Sequence,
    [property: Id(2)] string Operation,
    [property: Id(3)] string Error,
    [property: Id(4)] DateTimeOffset At);

[GenerateSerializer, Alias("Catalogs.CatalogInfo")]
public sealed record CatalogInfo(
    [property: Id(0)] string Name,
    [property: Id(1)] CatalogSpec Spec,
    [property: Id(2)] long Version,
    [property: Id(3)] DateTimeOffset CreatedAt,
    [property: Id(4)] DateTimeOffset UpdatedAt,
    [property: Id(5)] IReadOnlyList<ShardStats> Shards,
    [property: Id(6)] bool Created = false,
    [property: Id(7)] Reembedding? Reembedding = null,
    [property: Id(8)] PreviousVersion? Previous = null)
{
    public long Products => Shards.Sum(s => (long)s.Products);

    /// <summary>What the products take, as quotas count it: their images as uploaded and their vectors.</summary>
    public long StoredBytes => Shards.Sum(s => s.StoredBytes);

    /// <summary>Shards with fewer copies answering (the primary and loaded replicas) than the catalog asks
    /// for.</summary>
    public int UnderReplicated => Shards.Count(s => 1 + (s.Replicas?.Count(r => r.Loaded) ?? 0) < Spec.Replicas);
}

/// <summary>Tokens of one namespace (Vertex AI Vector Search <c>Restriction</c>).</summary>
[GenerateSerializer, Alias("Catalogs.Restrict")]
public sealed record Restrict(
    [property: Id(0)] string Namespace,
    [property: Id(1)] string[] AllowList,
    [property: Id(2)] string[] DenyList);

/// <summary>A numeric value of one namespace (Vertex <c>NumericRestriction</c>); exactly one value is set.
/// In queries <see cref="Op"/> says how a datapoint's value compares with it.</summary>
[GenerateSerializer, Alias("Catalogs.NumericRestrict")]
public sealed record NumericRestrict(
    [property: Id(0)] string Namespace,
    [property: Id(1)] long? ValueInt = null,
    [property: Id(2)] float? ValueFloat = null,
    [property: Id(3)] double? ValueDouble = null,
    [property: Id(4)] NumericOperator? Op = null)
{
    public double Value => ValueInt ?? ValueFloat ?? ValueDouble ?? double.NaN;
}

/// <summary>A product as stored and returned; the shape of a Vertex AI <c>IndexDatapoint</c> plus free-form
/// attributes.</summary>
/// <param name="AttributesJson">A JSON object of free-form attributes (name, url, price…), kept verbatim.</param>
/// <param name="ImageSha256">The SHA-256 (hex) of the product's original image, kept by its shard; null without
/// one.</param>
/// <param name="ImageBytes">That image's size as uploaded (what byte quotas count); 0 without one.</param>
/// <param name="Color">The colours of that image, computed at ingest; null without an image.</param>
[GenerateSerializer, Immutable, Alias("Catalogs.Datapoint")]
public sealed record Datapoint(
    [property: Id(0)] string Id,
    [property: Id(1)] float[] FeatureVector,
    [property: Id(2)] Restrict[] Restricts,
    [property: Id(3)] NumericRestrict[] NumericRestricts,
    [property: Id(4)] string? CrowdingTag,
    [property: Id(5)] string? AttributesJson,
    [property: Id(6)] DateTimeOffset UpdatedAt,
    [property: Id(7)] string? ImageSha256 = null,
    [property: Id(8)] long ImageBytes = 0,
    [property: Id(9)] ProductColor? Color = null)
{
    /// <summary>The restrict namespace filled with each product's dominant colour.</summary>
    public const string ColorNamespace = "color";

    /// <summary>The restricts filters and facets see: the datapoint's own, and its dominant colour in <see
    /// cref="ColorNamespace"/> unless it has a namespace of that name itself.</summary>
    public Restrict[] FilterRestricts => Color is { } c && !Array.Exists(Restricts, r => r.Namespace == ColorNamespace)
        ? [.. Restricts, new Restrict(ColorNamespace, [c.Dominant], [])] : Restricts;
}

/// <summary>A product image's colours: its dominant one by name (red, orange, yellow, green, teal, blue, purple,
/// pink, brown, black, gray, white) and a 27-bin hue/value histogram (bytes, summing to about 255) for re-ranking
/// by colour.</summary>
[GenerateSerializer, Immutable, Alias("Catalogs.ProductColor")]
public sealed record ProductColor(
    [property: Id(0)] string Dominant,
    [property: Id(1)] byte[] Histogram);

/// <summary>What the encoder makes of a product image: its embedding and its colours.</summary>
[GenerateSerializer, Immutable, Alias("Catalogs.ProductEncoding")]
public sealed record ProductEncoding(
    [property: Id(0)] float[] Vector,
    [property: Id(1)] ProductColor Color);

/// <summary>A search. <c>Text</c> ranks the products' text by BM25 (alone when <c>Vector</c> is empty, else fused
/// with the vector ranking by reciprocal rank fusion with weight <c>RrfAlpha</c> for the vector side, default
/// 0.5).</summary>
[GenerateSerializer, Immutable, Alias("Catalogs.SearchQuery")]
public sealed record SearchQuery(
    [property: Id(0)] float[] Vector,
    [property: Id(1)] int NeighborCount,
    [property: Id(2)] Restrict[] Restricts,
    [property: Id(3)] NumericRestrict[] NumericRestricts,
    [property: Id(4)] int? PerCrowdingAttributeNeighborCount,
    [property: Id(5)] string? ExcludeId = null,
    [property: Id(6)] int? Ef = null,
    [property: Id(7)] QueryRouting? Routing = null,
    [property: Id(8)] int? ApproximateNeighborCount = null,
    [property: Id(9)] double? FractionLeafNodesToSearchOverride = null,
    [property: Id(10)] bool ReturnVectors = false,
    [property: Id(11)] ReadConsistency Consistency = ReadConsistency.Eventual,
    [property: Id(12)] string[]? ExcludeIds = null,
    [property: Id(13)] string? Text = null,
    [property: Id(14)] double? RrfAlpha = null)
{
    /// <summary>Whether the query's own products (<see cref="ExcludeId"/>, <see cref="ExcludeIds"/>) rule
    /// <paramref name="id"/> out.</summary>
    public bool Excludes(string id) => id == ExcludeId || (ExcludeIds?.Contains(id) ?? false);
}

/// <summary>A routed search's answer: where it came from (<c>local</c>, <c>matchingEngine</c>, <c>hybrid</c>), and
/// whether Matching Engine failed so the local index answered alone (<c>Degraded</c>, with the reason).</summary>
[GenerateSerializer, Immutable, Alias("Catalogs.SearchResult")]
public sealed record SearchResult(
    [property: Id(0)] SearchHit[] Hits,
    [property: Id(1)] QueryRouting Source,
    [property: Id(2)] bool Degraded = false,
    [property: Id(3)] string? Warning = null,
    [property: Id(4)] int[]? MissingShards = null)
{
    /// <summary>Some shards could not be reached: the hits are the best of the others (never silently).</summary>
    public bool Partial => MissingShards is { Length: > 0 };
}

[GenerateSerializer, Immutable, Alias("Catalogs.SearchHit")]
public sealed record SearchHit(
    [property: Id(0)] string Id,
    [property: Id(1)] float Distance,
    [property: Id(2)] Datapoint Datapoint);

/// <summary>An encoder as requested: null fields take the model's defaults when the catalog is configured.</summary>
[GenerateSerializer, Alias("Catalogs.EncoderDraft")]
public sealed record EncoderDraft(
    [property: Id(0)] string? Model,
    [property: Id(1)] string? Input = null,
    [property: Id(2)] string? Output = null,
    [property: Id(3)] int? InputSize = null,
    [property: Id(4)] EncoderResize? Resize = null,
    [property: Id(5)] float[]? Mean = null,
    [property: Id(6)] float[]? Std = null,
    [property: Id(7)] EncoderChannelOrder? ChannelOrder = null,
    [property: Id(8)] EncoderPooling? Pooling = null,
    [property: Id(9)] bool? Dequantize = null,
    [property: Id(10)] bool? Normalize = null,
    [property: Id(11)] float? CropFraction = null,
    [property: Id(12)] string? Head = null);

/// <summary>A catalog configuration as requested (PUT body).</summary>
[GenerateSerializer, Alias("Catalogs.CatalogDraft")]
public sealed record CatalogDraft(
    [property: Id(0)] EncoderDraft? Encoder,
    [property: Id(1)] SimilarityMetric? Metric,
    [property: Id(2)] int? Dimensions,
    [property: Id(3)] int? Shards,
    [property: Id(4)] IndexDraft? Index = null,
    [property: Id(5)] MatchingEngineSpec? MatchingEngine = null,
    [property: Id(6)] int? Replicas = null);

/// <summary>An encoder with its defaults resolved against the model, and the length of its embeddings.</summary>
[GenerateSerializer, Alias("Catalogs.EncoderDescription")]
public sealed record EncoderDescription(
    [property: Id(0)] EncoderSpec Spec,
    [property: Id(1)] int Dimensions);
