namespace Catalogs.Grains;

/// <summary>
/// One catalog of one tenant, keyed <c>tenant/catalog</c>: owns the configuration, routes writes to shards by a
/// hash of the product id and fans searches out to every shard.
/// </summary>
[Alias("Catalogs.ICatalogGrain")]
public interface ICatalogGrain : IGrainWithStringKey
{
    /// <summary>Creates the catalog or updates its configuration. Throws <see cref="CatalogRequestException"/> for invalid or conflicting changes.</summary>
    [Alias("Configure")] Task<CatalogInfo> Configure(CatalogDraft draft, CancellationToken cancellationToken = default);
    [Alias("GetInfo")] Task<CatalogInfo?> GetInfo(CancellationToken cancellationToken = default);
    /// <summary>Deletes the catalog and all its products; false when it did not exist.</summary>
    [Alias("Drop")] Task<bool> Drop(CancellationToken cancellationToken = default);

    /// <summary>Upserts products; completes once all are durable and searchable.</summary>
    [Alias("Upsert")] Task Upsert(Datapoint[] datapoints, CancellationToken cancellationToken = default);
    /// <summary>Upserts products whose vectors are given or, where a write carries an image, computed here with the
    /// catalog's encoder. All images are encoded before anything is written: one refused image refuses the batch.</summary>
    [Alias("Write")] Task Write(ProductWrite[] writes, CancellationToken cancellationToken = default);
    [Alias("Remove")] Task<bool> Remove(string id, CancellationToken cancellationToken = default);
    [Alias("Get")] Task<Datapoint?> Get(string id, CancellationToken cancellationToken = default);
    /// <summary>A product's original image, or a cached thumbnail of it (longer side <paramref name="size"/>).</summary>
    [Alias("GetImage")] Task<ProductImage?> GetImage(string id, int? size, CancellationToken cancellationToken = default);
    [Alias("Search")] Task<SearchHit[]> Search(SearchQuery query, CancellationToken cancellationToken = default);
    /// <summary>A search routed by the catalog's <c>queryRouting</c> (or the query's own): the local shards, Matching
    /// Engine, or both merged; Matching Engine's hits are checked against local state (deleted or changed products not
    /// yet synced are corrected), and its failure degrades to local results, flagged.</summary>
    [Alias("Query")] Task<SearchResult> Query(SearchQuery query, CancellationToken cancellationToken = default);
    /// <summary>A routed search from an image (encoded here), from a stored product (similar products, without
    /// itself), or from the query's own vector.</summary>
    [Alias("Find")] Task<SearchResult> Find(SearchRequest request, CancellationToken cancellationToken = default);
    /// <summary>Writes the catalog as Vertex JSONL under <paramref name="gcsPrefix"/> (gs://bucket/prefix) and patches
    /// the bound index with it, following the operation to its end: the whole catalog (complete overwrite), or with
    /// <paramref name="delta"/> the changes since the last export (upserts, and removals under <c>delete/</c>).</summary>
    [Alias("Export")] Task<ExportResult> Export(string gcsPrefix, bool delta = false, CancellationToken cancellationToken = default);
    /// <summary>Changes Matching Engine rejected, from every shard, oldest first.</summary>
    [Alias("GetDeadLetters")] Task<DeadLetter[]> GetDeadLetters(CancellationToken cancellationToken = default);
}

/// <summary>One hash partition of a catalog, keyed <c>tenant/catalog/incarnation/shard</c>: its hot index, its
/// products, its write-ahead log and snapshots.</summary>
[Alias("Catalogs.IShardGrain")]
public interface IShardGrain : IGrainWithStringKey
{
    [Alias("Initialize")] Task Initialize(ShardSettings settings, CancellationToken cancellationToken = default);
    /// <summary>Upserts products (with vectors); a write's image is kept as the product's original image.</summary>
    [Alias("Upsert")] Task Upsert(ProductWrite[] writes, CancellationToken cancellationToken = default);
    /// <summary>A product's original image, or a thumbnail whose longer side is <paramref name="size"/>; null when the
    /// product or its image does not exist.</summary>
    [Alias("GetImage")] Task<ProductImage?> GetImage(string id, int? size, CancellationToken cancellationToken = default);
    [Alias("Remove")] Task<bool> Remove(string id, CancellationToken cancellationToken = default);
    [Alias("Get")] Task<Datapoint?> Get(string id, CancellationToken cancellationToken = default);
    [Alias("GetMany")] Task<Datapoint?[]> GetMany(string[] ids, CancellationToken cancellationToken = default);
    [Alias("Search")] Task<SearchHit[]> Search(SearchQuery query, CancellationToken cancellationToken = default);
    [Alias("GetStats")] Task<ShardStats> GetStats(CancellationToken cancellationToken = default);
    /// <summary>Deletes the shard's files and deactivates it.</summary>
    [Alias("Drop")] Task Drop(CancellationToken cancellationToken = default);
    /// <summary>Starts mirroring into a Matching Engine index (a new index: everything is sent again), or stops (null).</summary>
    [Alias("BindSync")] Task BindSync(string? index, CancellationToken cancellationToken = default);
    [Alias("GetDeadLetters")] Task<DeadLetter[]> GetDeadLetters(CancellationToken cancellationToken = default);
    /// <summary>Uploads the shard's products (or, with <paramref name="delta"/>, its changes since the last committed
    /// export) as Vertex JSONL to <paramref name="objectName"/>, and removed ids to <paramref name="deleteObjectName"/>.</summary>
    [Alias("ExportTo")] Task<ShardExport> ExportTo(string bucket, string objectName, string deleteObjectName, bool delta, CancellationToken cancellationToken = default);
    /// <summary>Records that Matching Engine holds the shard's state as of <paramref name="sequence"/> (the next delta starts there).</summary>
    [Alias("CommitExport")] Task CommitExport(long sequence, CancellationToken cancellationToken = default);
}

[GenerateSerializer, Alias("Catalogs.ShardSettings")]
public sealed record ShardSettings(
    [property: Id(0)] int Shard,
    [property: Id(1)] SimilarityMetric Metric,
    [property: Id(2)] int Dimensions,
    [property: Id(3)] IndexSpec? Index = null);

/// <summary>Encodes images with a given encoder, off the grain scheduler, batching concurrent requests.
/// A stateless worker: activations are local to the caller's silo and scale with load.</summary>
[Alias("Catalogs.IEncoderGrain")]
public interface IEncoderGrain : IGrainWithIntegerKey
{
    /// <summary>Resolves an encoder's defaults against its model and reports its embedding length (loads the model).</summary>
    [Alias("Describe")] Task<EncoderDescription> Describe(EncoderDraft draft, CancellationToken cancellationToken = default);
    [Alias("Encode")] Task<float[][]> Encode(EncoderSpec encoder, byte[][] images, CancellationToken cancellationToken = default);
}

/// <summary>The catalogs of a tenant, keyed by tenant.</summary>
[Alias("Catalogs.ITenantGrain")]
public interface ITenantGrain : IGrainWithStringKey
{
    [Alias("List")] Task<string[]> List(CancellationToken cancellationToken = default);
    [Alias("Add")] Task Add(string catalog, CancellationToken cancellationToken = default);
    [Alias("RemoveCatalog")] Task Remove(string catalog, CancellationToken cancellationToken = default);
}

public enum CatalogError
{
    Invalid,            // 400/422: the request is malformed or violates a rule
    NotFound,           // 404
    Conflict,           // 409: the request conflicts with the catalog's state
    ImageUnsupported,   // 415
    ImageTooLarge,      // 413
    Unavailable,        // 503: a service the request depends on (Matching Engine) cannot be reached
    BadRequest,         // 400: an invalid Matching Engine binding or export request (as issue 5 specifies)
}

/// <summary>A product to upsert: its datapoint, and the image its vector is to be computed from (then the
/// datapoint's own vector is ignored).</summary>
[GenerateSerializer, Immutable, Alias("Catalogs.ProductWrite")]
public sealed record ProductWrite(
    [property: Id(0)] Datapoint Datapoint,
    [property: Id(1)] byte[]? Image = null);

/// <summary>What a search starts from: <see cref="Image"/>, <see cref="ProductId"/>, or else the query's vector.</summary>
[GenerateSerializer, Immutable, Alias("Catalogs.SearchRequest")]
public sealed record SearchRequest(
    [property: Id(0)] SearchQuery Query,
    [property: Id(1)] byte[]? Image = null,
    [property: Id(2)] string? ProductId = null);

/// <summary>A product's image as served: its bytes, media type and entity tag (from the content hash).</summary>
[GenerateSerializer, Immutable, Alias("Catalogs.ProductImage")]
public sealed record ProductImage(
    [property: Id(0)] byte[] Bytes,
    [property: Id(1)] string MediaType,
    [property: Id(2)] string ETag)
{
    /// <summary>The thumbnail sizes served (longer side, pixels): a closed set, so caches stay bounded.</summary>
    public static readonly int[] ThumbnailSizes = [64, 128, 256, 512];
}

/// <summary>A request a grain refuses; carries what the API returns as problem+json.</summary>
[GenerateSerializer, Alias("Catalogs.CatalogRequestException")]
public sealed class CatalogRequestException : Exception
{
    [Id(0)] public CatalogError Error { get; }

    public CatalogRequestException(CatalogError error, string message) : base(message) => Error = error;
}
