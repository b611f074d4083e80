namespace Catalogs.Grains;

/// <summary>
/// One catalog of one tenant, keyed <c>tenant/catalog</c>: owns the configuration, routes writes to shards by a
/// hash of the product id and fans searches out to every shard.
/// </summary>
[Alias("Catalogs.ICatalogGrain")]
public interface ICatalogGrain : IGrainWithStringKey
{
    /// <summary>Creates the catalog or updates its configuration. Throws <see cref="CatalogRequestException"/> for
    /// invalid or conflicting changes.</summary>
    [ResponseTimeout(CallTimeouts.Long)]
    [Alias("Configure")] Task<CatalogInfo> Configure(CatalogDraft draft, CancellationToken cancellationToken = default);
    [Alias("GetInfo")] Task<CatalogInfo?> GetInfo(CancellationToken cancellationToken = default);
    /// <summary>Serves the previous version again (kept up to date since the switch); the version it replaces becomes
    /// the previous one. 409 when there is none.</summary>
    [ResponseTimeout(CallTimeouts.Long)]
    [Alias("RollBack")] Task<CatalogInfo> RollBack(CancellationToken cancellationToken = default);
    /// <summary>Stops a running re-embedding and drops what it built; the serving version stays as it is. 409 when
    /// none runs.</summary>
    [ResponseTimeout(CallTimeouts.Long)]
    [Alias("CancelReembedding")]
    Task<CatalogInfo> CancelReembedding(CancellationToken cancellationToken = default);
    /// <summary>Drops the previous version (writes then go to one version only). 409 when there is none.</summary>
    [ResponseTimeout(CallTimeouts.Long)]
    [Alias("RetirePrevious")] Task<CatalogInfo> RetirePrevious(CancellationToken cancellationToken = default);
    /// <summary>Starts fitting a head to the catalog's labels in the background (409 while one runs; 422 when the
    /// labels cannot fit one).</summary>
    [ResponseTimeout(CallTimeouts.Long)]
    [Alias("StartTraining")]
    Task<TrainingStatus> StartTraining(TrainingRequest request, CancellationToken cancellationToken = default);
    /// <summary>The latest training, or null when the catalog has none.</summary>
    [Alias("GetTraining")] Task<TrainingStatus?> GetTraining(CancellationToken cancellationToken = default);
    [Alias("CancelTraining")] Task<TrainingStatus> CancelTraining(CancellationToken cancellationToken = default);
    /// <summary>Starts measuring the catalog's retrieval on its own labels in the background (what <c>catalogs
    /// eval</c> measures, on the vectors the catalog serves).</summary>
    [ResponseTimeout(CallTimeouts.Long)]
    [Alias("StartEvaluation")]
    Task<EvaluationStatus> StartEvaluation(EvaluationRequest request, CancellationToken cancellationToken = default);
    /// <summary>The latest evaluation, or null.</summary>
    [Alias("GetEvaluation")] Task<EvaluationStatus?> GetEvaluation(CancellationToken cancellationToken = default);
    /// <summary>Deletes the catalog and all its products; false when it did not exist.</summary>
    [ResponseTimeout(CallTimeouts.Long)]
    [Alias("Drop")] Task<bool> Drop(CancellationToken cancellationToken = default);

    /// <summary>Upserts products; completes once all are durable and searchable.</summary>
    [Alias("Upsert")] Task Upsert(Datapoint[] datapoints, CancellationToken cancellationToken = default);
    /// <summary>Upserts products whose vectors are given or, where a write carries an image, computed here with the
    /// catalog's encoder. All images are encoded before anything is written: one refused image refuses the
    /// batch.</summary>
    [ResponseTimeout(CallTimeouts.Encoding)]
    [Alias("Write")] Task Write(ProductWrite[] writes, CancellationToken cancellationToken = default);
    /// <summary>Upserts products one by one as far as each goes (an import's batch): a product already stored with
    /// the same image (SHA-256) and datapoint is left alone, one with the same image but another datapoint keeps its
    /// vector (no encoding), and a refused product fails alone, its reason in its outcome.</summary>
    [ResponseTimeout(CallTimeouts.Encoding)]
    [Alias("Import")]
    Task<ImportOutcome[]> Import(ProductWrite[] writes, CancellationToken cancellationToken = default);
    [Alias("Remove")] Task<bool> Remove(string id, CancellationToken cancellationToken = default);
    /// <summary>The restrict tokens (with product counts, the <paramref name="maxTokens"/> most frequent of each
    /// namespace) and numeric ranges of the catalog's products.</summary>
    [Alias("GetFacets")]
    Task<CatalogFacets> GetFacets(int maxTokens, CancellationToken cancellationToken = default);
    [Alias("Get")] Task<Datapoint?> Get(string id, CancellationToken cancellationToken = default);
    /// <summary>A product's original image, or a cached thumbnail of it (longer side <paramref
    /// name="size"/>).</summary>
    [Alias("GetImage")]
    Task<ProductImage?> GetImage(string id, int? size,
        CancellationToken cancellationToken = default);
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
    /// <paramref name="delta"/> the changes since the last export (upserts, and removals under
    /// <c>delete/</c>).</summary>
    [Alias("Export"), ResponseTimeout(CallTimeouts.Long)]
    Task<ExportResult> Export(string gcsPrefix, bool delta = false,
        CancellationToken cancellationToken = default);
    /// <summary>Changes Matching Engine rejected, from every shard, oldest first.</summary>
    [Alias("GetDeadLetters")] Task<DeadLetter[]> GetDeadLetters(CancellationToken cancellationToken = default);
}
