namespace Catalogs.VectorIndex;

/// <summary>One search hit: the point's id and its distance to the query (lower is closer).</summary>
public readonly record struct Neighbor(string Id, float Distance);

/// <summary>What to search for besides the query vector.</summary>
/// <param name="K">How many neighbours to return.</param>
/// <param name="Filter">Restricts every returned point must pass.</param>
/// <param name="PerCrowdingAttribute">At most this many results share one crowding attribute (null: no limit).</param>
/// <param name="ExcludeId">A point never returned (e.g. the product a "similar products" query starts from).</param>
/// <param name="Ef">Candidate list size of approximate indexes (recall/speed trade-off); exact indexes ignore it.</param>
public sealed record SearchOptions(int K, SearchFilter? Filter = null, int? PerCrowdingAttribute = null, string? ExcludeId = null, int? Ef = null);

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
}
