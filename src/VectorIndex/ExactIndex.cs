namespace Catalogs.VectorIndex;

/// <summary>
/// Brute-force index: scans every point. Exact by construction, so it is the ground truth for recall, the index of
/// small shards, and the fallback for very selective filters. Freed slots are reused, so churn does not grow it.
/// Readers take no lock: each slot holds one immutable entry swapped atomically, so a search sees every point
/// either before or after a concurrent write, never half of one, and writers can never starve readers.
/// </summary>
public sealed class ExactIndex(int dimensions, DistanceMetric metric) : IVectorIndex, IDisposable
{
    sealed record Entry(string Id, float[] Vector, PointAttributes Attributes);

    readonly Lock writeGate = new();
    readonly Dictionary<string, int> slotOf = new(StringComparer.Ordinal);
    readonly Stack<int> freeSlots = new();
    volatile Entry?[] entries = new Entry?[16];
    volatile int used;

    public int Dimensions { get; } = dimensions > 0 ? dimensions : throw new ArgumentOutOfRangeException(nameof(dimensions));
    public DistanceMetric Metric { get; } = metric;

    public int Count
    {
        get { lock (writeGate) return slotOf.Count; }
    }

    public void Upsert(string id, ReadOnlySpan<float> vector, PointAttributes attributes)
    {
        ArgumentNullException.ThrowIfNull(id);
        if (vector.Length != Dimensions) throw new ArgumentException($"Expected {Dimensions} dimensions, got {vector.Length}.", nameof(vector));
        var stored = vector.ToArray();
        if (Metric == DistanceMetric.Cosine) VectorMath.NormalizeInPlace(stored);
        var entry = new Entry(id, stored, attributes);
        lock (writeGate)
        {
            if (!slotOf.TryGetValue(id, out var slot))
            {
                slot = freeSlots.Count > 0 ? freeSlots.Pop() : used;
                if (slot >= entries.Length)
                {
                    var grown = new Entry?[entries.Length * 2];
                    Array.Copy(entries, grown, entries.Length);
                    entries = grown; // published before `used` grows past the old length
                }
                slotOf[id] = slot;
            }
            Volatile.Write(ref entries[slot], entry);
            if (slot == used) used = slot + 1;
        }
    }

    public bool Remove(string id)
    {
        lock (writeGate)
        {
            if (!slotOf.Remove(id, out var slot)) return false;
            Volatile.Write(ref entries[slot], null);
            freeSlots.Push(slot);
            return true;
        }
    }

    public bool Contains(string id)
    {
        lock (writeGate) return slotOf.ContainsKey(id);
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
        // A point removed and re-inserted during the scan can be seen in its old and its new slot; such a rare torn
        // scan is detected by a repeated id and simply run again.
        while (true)
        {
            var result = Scan(q, options, filter);
            var seen = new HashSet<string>(result.Count, StringComparer.Ordinal);
            if (result.All(n => seen.Add(n.Id))) return result;
        }
    }

    IReadOnlyList<Neighbor> Scan(ReadOnlySpan<float> q, SearchOptions options, SearchFilter? filter)
    {
        bool crowding = options.PerCrowdingAttribute is not null;
        var collector = new ResultCollector(options.K, options.PerCrowdingAttribute);
        int count = used;
        var snapshot = entries;
        for (int slot = 0; slot < count && slot < snapshot.Length; slot++)
        {
            var e = Volatile.Read(ref snapshot[slot]);
            if (e is null) continue;
            if (options.ExcludeId is not null && e.Id == options.ExcludeId) continue;
            if (filter is not null && !filter.Matches(e.Attributes)) continue;
            float d = VectorMath.Distance(Metric, q, e.Vector);
            if (crowding || d < collector.Threshold) collector.Add(e.Id, d, e.Attributes.CrowdingAttribute);
        }
        return collector.ToList();
    }

    public void Dispose() { }
}
