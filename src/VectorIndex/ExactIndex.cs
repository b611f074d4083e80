namespace Catalogs.VectorIndex;

/// <summary>
/// Brute-force index: scans every point. Exact by construction, so it is the ground truth for recall, the index of
/// small shards, and the fallback for very selective filters. Freed slots are reused, so churn does not grow it.
/// Readers share a lock; a writer holds it only for the time of a slot update.
/// </summary>
public sealed class ExactIndex(int dimensions, DistanceMetric metric) : IVectorIndex, IDisposable
{
    readonly ReaderWriterLockSlim gate = new(LockRecursionPolicy.NoRecursion);
    readonly Dictionary<string, int> slotOf = new(StringComparer.Ordinal);
    readonly Stack<int> freeSlots = new();
    float[]?[] vectors = new float[]?[16];
    string?[] ids = new string?[16];
    PointAttributes[] attributes = new PointAttributes[16];
    int used;

    public int Dimensions { get; } = dimensions > 0 ? dimensions : throw new ArgumentOutOfRangeException(nameof(dimensions));
    public DistanceMetric Metric { get; } = metric;

    public int Count
    {
        get { gate.EnterReadLock(); try { return slotOf.Count; } finally { gate.ExitReadLock(); } }
    }

    public void Upsert(string id, ReadOnlySpan<float> vector, PointAttributes attributes)
    {
        ArgumentNullException.ThrowIfNull(id);
        if (vector.Length != Dimensions) throw new ArgumentException($"Expected {Dimensions} dimensions, got {vector.Length}.", nameof(vector));
        var stored = vector.ToArray();
        if (Metric == DistanceMetric.Cosine) VectorMath.NormalizeInPlace(stored);
        gate.EnterWriteLock();
        try
        {
            if (!slotOf.TryGetValue(id, out var slot))
            {
                slot = freeSlots.Count > 0 ? freeSlots.Pop() : used++;
                if (slot >= vectors.Length) Grow();
                slotOf[id] = slot;
            }
            vectors[slot] = stored;
            ids[slot] = id;
            this.attributes[slot] = attributes;
        }
        finally { gate.ExitWriteLock(); }
    }

    public bool Remove(string id)
    {
        gate.EnterWriteLock();
        try
        {
            if (!slotOf.Remove(id, out var slot)) return false;
            vectors[slot] = null;
            ids[slot] = null;
            attributes[slot] = PointAttributes.None;
            freeSlots.Push(slot);
            return true;
        }
        finally { gate.ExitWriteLock(); }
    }

    public bool Contains(string id)
    {
        gate.EnterReadLock();
        try { return slotOf.ContainsKey(id); } finally { gate.ExitReadLock(); }
    }

    public IReadOnlyList<Neighbor> Search(ReadOnlySpan<float> query, SearchOptions options)
    {
        if (query.Length != Dimensions) throw new ArgumentException($"Expected {Dimensions} dimensions, got {query.Length}.", nameof(query));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.K, 1);
        ReadOnlySpan<float> q = query;
        if (Metric == DistanceMetric.Cosine)
        {
            var copy = query.ToArray();
            VectorMath.NormalizeInPlace(copy);
            q = copy;
        }
        var filter = options.Filter is { IsEmpty: false } f ? f : null;
        var collector = new ResultCollector(options.K, options.PerCrowdingAttribute);
        gate.EnterReadLock();
        try
        {
            for (int slot = 0; slot < used; slot++)
            {
                var v = vectors[slot];
                if (v is null) continue;
                var id = ids[slot]!;
                if (options.ExcludeId is not null && id == options.ExcludeId) continue;
                var a = attributes[slot];
                if (filter is not null && !filter.Matches(a)) continue;
                float d = VectorMath.Distance(Metric, q, v);
                if (d < collector.Threshold || options.PerCrowdingAttribute is not null)
                    collector.Add(id, d, a.CrowdingAttribute);
            }
        }
        finally { gate.ExitReadLock(); }
        return collector.ToList();
    }

    void Grow()
    {
        int size = vectors.Length * 2;
        Array.Resize(ref vectors, size);
        Array.Resize(ref ids, size);
        Array.Resize(ref attributes, size);
    }

    public void Dispose() => gate.Dispose();
}
