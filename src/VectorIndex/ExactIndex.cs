namespace Catalogs.VectorIndex;

/// <summary>
/// Brute-force index: scans every point. Exact by construction, so it is the ground truth for recall, the index of
/// small shards, and the fallback for very selective filters. Freed slots are reused, so churn does not grow it.
/// Readers take no lock: each slot holds one immutable entry swapped atomically, so a search sees every point
/// either before or after a concurrent write, never half of one, and writers can never starve readers.
/// </summary>
public sealed class ExactIndex(int dimensions, DistanceMetric metric) : IVectorIndex, IDisposable
{
    /// <summary>A point: its vector as given and, for cosine, 1/‖x‖ (so no normalised copy is kept).</summary>
    sealed record Entry(string Id, float[] Vector, float InverseNorm, PointAttributes Attributes);

    readonly Lock writeGate = new();
    readonly Dictionary<string, int> slotOf = new(StringComparer.Ordinal);
    readonly Stack<int> freeSlots = new();
    volatile Entry?[] entries = new Entry?[16];
    volatile int used;

    public int Dimensions { get; } = dimensions > 0 ? dimensions
        : throw new ArgumentOutOfRangeException(nameof(dimensions));
    public DistanceMetric Metric { get; } = metric;

    public int Count
    {
        get { lock (writeGate) return slotOf.Count; }
    }

    public void Upsert(string id, ReadOnlySpan<float> vector, PointAttributes attributes)
    {
        ArgumentNullException.ThrowIfNull(id);
        if (vector.Length != Dimensions)
            throw new ArgumentException($"Expected {Dimensions} dimensions, got {vector.Length}.", nameof(vector));
        var stored = vector.ToArray();
        var entry = new Entry(id, stored, VectorMath.InverseNorm(Metric, stored), attributes);
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
        if (query.Length != Dimensions)
            throw new ArgumentException($"Expected {Dimensions} dimensions, got {query.Length}.", nameof(query));
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
        bool crowding = options.PerCrowdingAttribute is not null, excludes = options.ExcludesAny;
        var collector = new ResultCollector(options.K, options.PerCrowdingAttribute);
        int count = used;
        var snapshot = entries;
        for (int slot = 0; slot < count && slot < snapshot.Length; slot++)
        {
            var e = Volatile.Read(ref snapshot[slot]);
            if (e is null) continue;
            if (excludes && options.Excludes(e.Id)) continue;
            if (filter is not null && !filter.Matches(e.Attributes)) continue;
            float d = VectorMath.Distance(Metric, q, e.Vector, e.InverseNorm);
            if (crowding || d < collector.Threshold) collector.Add(e.Id, d, e.Attributes.CrowdingAttribute);
        }
        return collector.ToList();
    }

    public void UpsertMany(IReadOnlyList<(string Id, float[] Vector, PointAttributes Attributes)> points, int threads =
        0)
    {
        foreach (var (id, vector, attributes) in points) Upsert(id, vector, attributes);
    }

    public IReadOnlyList<string> Ids()
    {
        lock (writeGate) return slotOf.Keys.ToArray();
    }

    public bool Holds(string id, ReadOnlySpan<float> vector, PointAttributes attributes)
    {
        Entry? e;
        lock (writeGate) e = slotOf.TryGetValue(id, out var slot) ? entries[slot] : null;
        return e is not null && e.Attributes.SameAs(attributes) && e.Vector.AsSpan().SequenceEqual(vector);
    }

    public float[]? Vector(string id)
    {
        Entry? e;
        lock (writeGate) e = slotOf.TryGetValue(id, out var slot) ? entries[slot] : null;
        return e?.Vector.ToArray(); // entries are immutable: no torn copy
    }

    public int Capacity => used;

    public IndexMemory Memory
    {
        get
        {
            long count = used;
            // vectors; entries, ids, slots
            return new IndexMemory(count * Dimensions * sizeof(float), 0, count * 96, 0);
        }
    }

    public bool SameConfiguration(IVectorIndex other) => other is ExactIndex e && e.Dimensions == Dimensions
        && e.Metric == Metric;

    internal static ReadOnlySpan<byte> Magic => "CATEXAC1"u8;
    // 2: vectors as given; version 1 held cosine vectors normalised, and is rebuilt from the products instead.
    const uint FormatVersion = 2;

    /// <summary>Magic, version, dimensions, metric, count, then each point (id, vector as given, attributes), and a
    /// CRC-32 of all of it.</summary>
    public void Save(Stream destination)
    {
        Entry[] points;
        lock (writeGate) points = slotOf.Values.Select(slot => entries[slot]!).ToArray();
        var crc = new HnswSnapshot.CrcStream(destination, writing: true);
        using (var w = new BinaryWriter(crc, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Magic);
            w.Write(FormatVersion);
            w.Write(Dimensions);
            w.Write((int)Metric);
            w.Write(points.Length);
            foreach (var p in points)
            {
                w.Write(p.Id);
                w.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(p.Vector.AsSpan()));
                HnswSnapshot.WriteAttributes(w, p.Attributes);
            }
            w.Flush();
            crc.Tracking = false;
            w.Write(crc.Crc.GetCurrentHashAsUInt32());
        }
    }

    /// <summary>Reads an index written by <see cref="Save"/>; throws <see cref="IndexSnapshotException"/> when
    /// damaged.</summary>
    public static ExactIndex Load(Stream source)
    {
        var crc = new HnswSnapshot.CrcStream(source, writing: false);
        try
        {
            using var r = new BinaryReader(crc, System.Text.Encoding.UTF8, leaveOpen: true);
            if (!r.ReadBytes(8).AsSpan().SequenceEqual(Magic))
                throw new IndexSnapshotException("Not an exact index snapshot (bad magic).");
            if (r.ReadUInt32() != FormatVersion)
                throw new IndexSnapshotException("Exact index snapshot of an unknown format.");
            int dimensions = r.ReadInt32();
            var metric = (DistanceMetric)r.ReadInt32();
            int count = r.ReadInt32();
            if (dimensions is < 1 or > 1 << 20 || count < 0)
                throw new IndexSnapshotException("Exact index snapshot is damaged.");
            var index = new ExactIndex(dimensions, metric);
            var points = new List<(string, float[], PointAttributes)>(count);
            for (int i = 0; i < count; i++)
            {
                var id = r.ReadString();
                var vector = new float[dimensions];
                r.BaseStream.ReadExactly(System.Runtime.InteropServices.MemoryMarshal.AsBytes(vector.AsSpan()));
                points.Add((id, vector, HnswSnapshot.ReadAttributes(r)));
            }
            crc.Tracking = false;
            if (r.ReadUInt32() != crc.Crc.GetCurrentHashAsUInt32())
                throw new IndexSnapshotException("Exact index snapshot is damaged (checksum).");
            index.UpsertMany(points);
            return index;
        }
        catch (EndOfStreamException ex)
        {
            throw new IndexSnapshotException("Exact index snapshot is truncated.", ex);
        }
    }

    public void Dispose() { }
}
