namespace Catalogs.VectorIndex;

/// <summary>One search hit: the point's id and its distance to the query (lower is closer).</summary>
public readonly record struct Neighbor(string Id, float Distance);

/// <summary>What to search for besides the query vector.</summary>
/// <param name="K">How many neighbours to return.</param>
/// <param name="Filter">Restricts every returned point must pass.</param>
/// <param name="PerCrowdingAttribute">At most this many results share one crowding attribute (null: no limit).</param>
/// <param name="ExcludeId">A point never returned (e.g. the product a "similar products" query starts from).</param>
/// <param name="Ef">Candidate list size of approximate indexes (recall/speed trade-off); exact indexes ignore
/// it.</param>
/// <param name="Excluded">More points never returned (the examples of a query with several).</param>
public sealed record SearchOptions(int K, SearchFilter? Filter = null, int? PerCrowdingAttribute = null,
    string? ExcludeId = null, int? Ef = null, IReadOnlySet<string>? Excluded = null)
{
    /// <summary>Whether some point is never to be returned.</summary>
    public bool ExcludesAny => ExcludeId is not null || Excluded is { Count: > 0 };

    public bool Excludes(string id) => id == ExcludeId || (Excluded?.Contains(id) ?? false);
}

/// <summary>
/// A live vector index: points are inserted, replaced and removed while searches run.
/// Implementations are safe for concurrent readers and writers.
/// </summary>
public interface IVectorIndex
{
    int Dimensions { get; }
    DistanceMetric Metric { get; }
    int Count { get; }

    /// <summary>Inserts a point or replaces the vector and attributes of an existing one.</summary>
    void Upsert(string id, ReadOnlySpan<float> vector, PointAttributes attributes);

    /// <summary>Removes a point; false when it was not there.</summary>
    bool Remove(string id);

    bool Contains(string id);

    /// <summary>The closest points, best first, that pass the filter, respecting the crowding limit.</summary>
    IReadOnlyList<Neighbor> Search(ReadOnlySpan<float> query, SearchOptions options);

    /// <summary>Inserts or replaces many points, on <paramref name="threads"/> threads (0: all cores) where the index
    /// can build in parallel.</summary>
    void UpsertMany(IReadOnlyList<(string Id, float[] Vector, PointAttributes Attributes)> points, int threads = 0);

    /// <summary>The ids held now (a copy).</summary>
    IReadOnlyList<string> Ids();

    /// <summary>True when <paramref name="id"/> is held with exactly this vector and these attributes: what
    /// reconciling a loaded index against the authoritative records asks.</summary>
    bool Holds(string id, ReadOnlySpan<float> vector, PointAttributes attributes);

    /// <summary>A copy of the vector held for <paramref name="id"/>, exactly as it was given (cosine indexes keep
    /// the norm beside it, not a normalised copy); null when the id is not held.</summary>
    float[]? Vector(string id);

    /// <summary>Slots in use, freed ones included.</summary>
    int Capacity { get; }

    IndexMemory Memory { get; }

    /// <summary>Whether <paramref name="other"/> was built with the same kind and settings (so a saved copy of it can
    /// stand in for this one).</summary>
    bool SameConfiguration(IVectorIndex other);

    /// <summary>Writes the whole index; <see cref="VectorIndexes.Load"/> reads it back without a rebuild.</summary>
    void Save(Stream destination);
}

/// <summary>Indexes read back from what <see cref="IVectorIndex.Save"/> wrote, whatever their kind.</summary>
public static class VectorIndexes
{
    /// <summary>Reads a saved index; throws <see cref="IndexSnapshotException"/> for a damaged or unknown
    /// one. <paramref name="rerankDirectory"/>: see <see cref="HnswOptions.RerankDirectory"/>.</summary>
    public static IVectorIndex Load(Stream source, string? rerankDirectory = null)
    {
        var buffered = source.CanSeek ? source : new BufferedStream(source);
        Span<byte> magic = stackalloc byte[8];
        long start = buffered.CanSeek ? buffered.Position : 0;
        if (buffered.ReadAtLeast(magic, 8, throwOnEndOfStream: false) < 8)
            throw new IndexSnapshotException("Index snapshot is truncated.");
        if (!buffered.CanSeek) throw new IndexSnapshotException("Index snapshots are read from seekable streams.");
        buffered.Position = start;
        if (magic.SequenceEqual(HnswSnapshot.Magic)) return HnswIndex.Load(buffered, rerankDirectory);
        if (magic.SequenceEqual(ExactIndex.Magic)) return ExactIndex.Load(buffered);
        throw new IndexSnapshotException("Not an index snapshot (unknown magic).");
    }
}
