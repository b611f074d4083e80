using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace Catalogs.VectorIndex;

/// <summary>Graph parameters of <see cref="HnswIndex"/>.</summary>
/// <param name="M">Links per node on upper layers (twice that on the base layer).</param>
/// <param name="EfConstruction">Candidate list size while inserting: higher builds a better graph, slower.</param>
/// <param name="EfSearch">Default candidate list size while searching (per query: <see
/// cref="SearchOptions.Ef"/>).</param>
/// <param name="ExactBelowMatches">An index with at most this many points, or a filtered query whose matches are at
/// most this many, is answered by an exact scan (of the matching points): the graph walk would visit most of them
/// anyway.</param>
/// <param name="Quantization">What the walk reads: float32, or int8 codes with float32 re-ranking of its
/// candidates.</param>
/// <param name="QuantizeAfter">A quantized index walks float32 until it holds this many points, then trains its
/// quantizer on them (a bulk load trains on its batch first).</param>
/// <param name="RerankDirectory">With int8: keep the float32 re-rank vectors in memory-mapped files in this directory
/// (deleted on creation, so nothing outlives the index) instead of the process heap. Not part of snapshots.</param>
public sealed record HnswOptions(
    int M = 16, int EfConstruction = 200, int EfSearch = 64, int Seed = 42, int ExactBelowMatches = 2_000,
    VectorQuantization Quantization = VectorQuantization.None, int QuantizeAfter = 5_000, string? RerankDirectory =
        null);

/// <summary>What an index occupies.</summary>
/// <param name="WalkBytes">Records the graph walk reads: base-layer links and walk vectors (float32 or int8).</param>
/// <param name="RerankBytes">float32 vectors kept apart for re-ranking on the heap (quantized indexes only).</param>
/// <param name="OtherBytes">Ids, attributes, upper-layer links, tombstones and postings (estimated).</param>
/// <param name="MappedBytes">float32 re-rank vectors in memory-mapped files (page cache, not process heap).</param>
public readonly record struct IndexMemory(long WalkBytes, long RerankBytes, long OtherBytes, long MappedBytes)
{
    /// <summary>What the process holds itself (mapped files excluded).</summary>
    public long Total => WalkBytes + RerankBytes + OtherBytes;
}

/// <summary>
/// Hierarchical navigable small world graph (Malkov &amp; Yashunin) for live catalogs: concurrent inserts, updates and
/// deletes while searching, filters evaluated during the walk, crowding inside the search, optional int8 walk.
/// </summary>
/// <remarks>
/// Layout (<see cref="HnswStorage"/>): one cache-aligned record per slot with its base-layer links and walk vector,
/// in chunks that never move. Writers lock only the neighbour lists they change (striped locks), so several threads
/// insert at once. Readers take no lock: a neighbour list is published entries first, count last.
/// A removed point is a tombstone: never returned, still routing; its slot is reused by the next insert, which takes
/// over its links and repairs the neighbourhood (hnswlib's "replace deleted"), so churn neither grows the index nor
/// disconnects it.
/// </remarks>
public sealed unsafe class HnswIndex : IVectorIndex, IDisposable
{
    sealed record Entry(int Slot, int Level);

    readonly HnswOptions options;
    readonly HnswStorage storage;
    readonly int m, m0;
    readonly double levelFactor;
    readonly DistanceMetric buildMetric;
    /// <summary>Writers hold it shared; snapshots and quantizer training hold it exclusively.</summary>
    readonly ReaderWriterLockSlim exclusive = new(LockRecursionPolicy.NoRecursion);
    readonly Lock registry = new();
    readonly object[] stripes = Enumerable.Range(0, 4096).Select(_ => new object()).ToArray();
    readonly Dictionary<string, int> slotOf = new(StringComparer.Ordinal);
    readonly Stack<int> tombstones = new();
    /// <summary>Namespace → allow token → live slots: lets the planner find a selective filter's matches without a
    /// scan.</summary>
    readonly Dictionary<string, Dictionary<string, HashSet<int>>> postings = new(StringComparer.Ordinal);

    /// <summary>Per-thread search scratch, reused so a search allocates almost nothing.</summary>
    sealed class Scratch(int dimensions)
    {
        public readonly VisitedSet Visited = new();
        public readonly DistanceHeap Candidates = new(farthestFirst: false);
        public readonly DistanceHeap Results = new(farthestFirst: true);
        public readonly float[] Query = GC.AllocateArray<float>(dimensions, pinned: true);
        public readonly sbyte[] Codes = GC.AllocateArray<sbyte>(dimensions + 64, pinned: true);
        public readonly byte[] Biased = GC.AllocateArray<byte>(dimensions + 64, pinned: true);
        /// <summary>A held vector scaled to unit length (cosine), to encode or to link from.</summary>
        public readonly float[] Unit = GC.AllocateArray<float>(dimensions, pinned: true);
    }

    readonly ThreadLocal<Scratch> scratch;
    readonly ThreadLocal<Random> random;
    volatile Entry? entry;
    volatile ScalarQuantizer? quantizer;
    int next;

    public HnswIndex(int dimensions, DistanceMetric metric, HnswOptions? options = null)
    {
        Dimensions = dimensions > 0 ? dimensions : throw new ArgumentOutOfRangeException(nameof(dimensions));
        Metric = metric;
        this.options = options ?? new HnswOptions();
        if (this.options.Quantization == VectorQuantization.Int8 && metric == DistanceMetric.L1)
            throw new ArgumentException("int8 quantization serves cosine, dot product and squared L2, not L1.",
                nameof(options));
        m = Math.Max(2, this.options.M);
        m0 = 2 * m;
        levelFactor = 1 / Math.Log(m);
        // Dot product is no metric (a point is not its own nearest neighbour): links follow Euclidean neighbourhoods,
        // which navigate well, while queries still rank by dot product.
        buildMetric = metric == DistanceMetric.DotProduct ? DistanceMetric.SquaredL2 : metric;
        storage = new HnswStorage(dimensions, m, this.options.Quantization == VectorQuantization.Int8,
            this.options.RerankDirectory);
        scratch = new ThreadLocal<Scratch>(() => new Scratch(dimensions));
        int seed = this.options.Seed;
        random = new ThreadLocal<Random>(() => new Random(Interlocked.Increment(ref seed)));
    }

    public int Dimensions { get; }
    public DistanceMetric Metric { get; }
    public HnswOptions Options => options;

    /// <summary>The trained int8 quantizer, or null while the walk reads float32.</summary>
    public ScalarQuantizer? Quantizer => quantizer;

    public int Count
    {
        get { lock (registry) return slotOf.Count; }
    }

    /// <summary>Slots in use, tombstones included (what the graph holds).</summary>
    public int Capacity => Volatile.Read(ref next);

    public bool Contains(string id)
    {
        lock (registry) return slotOf.ContainsKey(id);
    }

    /// <summary>The ids held now (a copy).</summary>
    public IReadOnlyList<string> Ids()
    {
        lock (registry) return slotOf.Keys.ToArray();
    }

    /// <summary>True when <paramref name="id"/> is held with exactly this vector (after normalisation, for cosine)
    /// and these attributes: what reconciling a loaded snapshot against the authoritative records asks.</summary>
    public bool Holds(string id, ReadOnlySpan<float> vector, PointAttributes attributes)
    {
        int slot;
        lock (registry)
            if (!slotOf.TryGetValue(id, out slot)) return false;
        return storage.Attributes(slot).SameAs(attributes) && storage.FloatsEqual(slot, vector);
    }

    /// <summary>A copy of the vector held for <paramref name="id"/>, exactly as it was given; null when the id is not
    /// held. The one copy of each vector a shard keeps is this one.</summary>
    public float[]? Vector(string id)
    {
        while (true)
        {
            int slot;
            lock (registry)
                if (!slotOf.TryGetValue(id, out slot)) return null;
            var copy = storage.CopyFloats(slot);
            // A removal and a reuse of the slot by another id while copying would hand out that id's vector.
            lock (registry)
                if (slotOf.TryGetValue(id, out int now) && now == slot) return copy;
        }
    }

    public IndexMemory Memory
    {
        get
        {
            int used = Capacity;
            long upper = (long)used * 4 * (m + 1) / m; // one upper layer per M nodes on average
            // ids, attributes, flags, id strings, registry
            long other = used * (8L + 8 + 2 + 40) + upper + (long)Count * 48;
            return new IndexMemory(storage.HotBytes, storage.ColdBytes, other, storage.MappedBytes);
        }
    }

    /// <summary>Inserts many points on <paramref name="threads"/> threads. A quantized index that is still untrained
    /// trains on this batch first, so the whole build walks int8.</summary>
    public void UpsertMany(IReadOnlyList<(string Id, float[] Vector, PointAttributes Attributes)> points, int threads =
        0)
    {
        if (options.Quantization != VectorQuantization.None && quantizer is null && Count
            + points.Count >= options.QuantizeAfter)
            Train(points.Select(p => p.Vector).Where(v => v.Length == Dimensions));
        Parallel.For(0, points.Count,
            new ParallelOptions { MaxDegreeOfParallelism = threads > 0 ? threads : Environment.ProcessorCount },
            i => Upsert(points[i].Id, points[i].Vector, points[i].Attributes));
    }

    public bool SameConfiguration(IVectorIndex other) =>
        other is HnswIndex h && h.Dimensions == Dimensions && h.Metric == Metric
            && h.Options with { Seed = 0 } == options with { Seed = 0 };

    public void Upsert(string id, ReadOnlySpan<float> vector, PointAttributes attributes)
    {
        ArgumentNullException.ThrowIfNull(id);
        if (vector.Length != Dimensions)
            throw new ArgumentException($"Expected {Dimensions} dimensions, got {vector.Length}.", nameof(vector));
        var stored = vector.ToArray(); // as given: cosine divides by the norm kept beside it

        exclusive.EnterReadLock();
        try
        {
            int slot;
            bool fresh, wasDeleted;
            lock (registry)
            {
                wasDeleted = false;
                if (slotOf.TryGetValue(id, out slot))
                {
                    fresh = false;
                    Postings(storage.Attributes(slot), slot, add: false);
                }
                else if (tombstones.Count > 0)
                {
                    slot = tombstones.Pop();
                    fresh = false;
                    wasDeleted = true;
                    slotOf[id] = slot;
                }
                else
                {
                    slot = next;
                    if (slot >= storage.Capacity) storage.EnsureCapacity(slot + 1);
                    Volatile.Write(ref next, slot + 1);
                    fresh = true;
                    slotOf[id] = slot;
                }
                Postings(attributes, slot, add: true);
            }

            var qz = quantizer;
            if (fresh)
            {
                storage.Initialise(slot, RandomLevel());
                WriteVector(slot, stored, qz);
                storage.SetPoint(slot, id, attributes);
                storage.SetDeleted(slot, false);
                Insert(slot);
            }
            else
            {
                // Update or reuse of a tombstone: keep the slot's level and links (others point here), then repair.
                bool sameVector = !wasDeleted && storage.FloatsEqual(slot, stored);
                if (!sameVector) WriteVector(slot, stored, qz);
                storage.SetPoint(slot, id, attributes);
                storage.SetDeleted(slot, false);
                if (!sameVector) Repair(slot, qz);
            }
        }
        finally { exclusive.ExitReadLock(); }
        if (options.Quantization != VectorQuantization.None && quantizer is null
            && Count >= options.QuantizeAfter) TrainOnContents();
    }

    void WriteVector(int slot, float[] vector, ScalarQuantizer? qz)
    {
        storage.WriteFloats(slot, vector);
        float inverseNorm = VectorMath.InverseNorm(Metric, vector);
        storage.SetInverseNorm(slot, inverseNorm);
        if (qz is not null) Encode(slot, qz, Comparable(vector, inverseNorm));
    }

    /// <summary>The slot's vector as the walk compares it: scaled to unit length for cosine, else as held.</summary>
    ReadOnlySpan<float> Comparable(int slot) => Comparable(storage.Vector(slot), storage.InverseNorm(slot));

    ReadOnlySpan<float> Comparable(ReadOnlySpan<float> vector, float inverseNorm)
    {
        if (Metric != DistanceMetric.Cosine) return vector;
        var unit = scratch.Value!.Unit;
        TensorPrimitives.Multiply(vector, inverseNorm, unit);
        return unit;
    }

    /// <summary>The slot's int8 codes (of the unit vector, for cosine) and their sums.</summary>
    void Encode(int slot, ScalarQuantizer qz, ReadOnlySpan<float> comparable) =>
        storage.SetCodeStats(slot, qz.Encode(comparable, storage.Codes(slot), out int sum), sum);

    public bool Remove(string id)
    {
        lock (registry)
        {
            if (!slotOf.Remove(id, out var slot)) return false;
            storage.SetDeleted(slot, true);
            Postings(storage.Attributes(slot), slot, add: false);
            tombstones.Push(slot);
            return true;
        }
    }

    /// <summary>Trains the int8 quantizer on a sample of <paramref name="vectors"/> (normalised for cosine) and
    /// encodes every slot already held; writers wait, searches go on reading float32 until it is published.</summary>
    void Train(IEnumerable<float[]> vectors)
    {
        var sample = vectors.Take(20_000).Select(v =>
        {
            var copy = v.ToArray();
            if (Metric == DistanceMetric.Cosine) VectorMath.NormalizeInPlace(copy);
            return copy;
        }).ToList();
        if (sample.Count == 0) return;
        exclusive.EnterWriteLock();
        try
        {
            if (quantizer is not null) return;
            var trained = ScalarQuantizer.Train(sample);
            for (int slot = 0; slot < next; slot++)
                if (storage.Id(slot) is not null) Encode(slot, trained, Comparable(slot));
            quantizer = trained;
            // The float32 walk before training read these vectors through the mapping; the codes walk from now on.
            storage.ReleaseMappedPages();
        }
        finally { exclusive.ExitWriteLock(); }
    }

    void TrainOnContents()
    {
        int used = Capacity;
        int step = Math.Max(1, used / 20_000);
        var sample = new List<float[]>();
        for (int slot = 0; slot < used; slot += step)
            if (storage.Id(slot) is not null && !storage.IsDeleted(slot)) sample.Add(storage.CopyFloats(slot));
        Train(sample);
    }

    /// <summary>Adds or removes a slot's allow tokens in <see cref="postings"/>; the caller holds the registry
    /// lock.</summary>
    void Postings(PointAttributes attributes, int slot, bool add)
    {
        foreach (var restrict in attributes.Restricts)
        {
            if (!postings.TryGetValue(restrict.Namespace, out var tokens))
            {
                if (!add) continue;
                postings[restrict.Namespace] = tokens = new Dictionary<string, HashSet<int>>(StringComparer.Ordinal);
            }
            foreach (var token in restrict.Allow)
            {
                if (!tokens.TryGetValue(token, out var slots))
                {
                    if (!add) continue;
                    tokens[token] = slots = [];
                }
                if (add) slots.Add(slot);
                else slots.Remove(slot);
            }
        }
    }

    /// <summary>The live slots that can pass <paramref name="filter"/>'s allow lists (a superset of its matches), or
    /// null when the filter has no allow list to narrow by.</summary>
    int[]? Candidates(SearchFilter filter)
    {
        HashSet<int>? result = null;
        lock (registry)
        {
            foreach (var r in filter.Restricts)
            {
                if (r.Allow.Count == 0) continue;
                var union = new HashSet<int>();
                if (postings.TryGetValue(r.Namespace, out var tokens))
                    foreach (var t in r.Allow)
                        if (tokens.TryGetValue(t, out var slots)) union.UnionWith(slots);
                if (result is null) result = union;
                else result.IntersectWith(union);
                if (result.Count == 0) break;
            }
        }
        return result?.ToArray();
    }

    int RandomLevel() => Math.Min(32, (int)(-Math.Log(1 - random.Value!.NextDouble()) * levelFactor));

    object Stripe(int slot) => stripes[slot & (stripes.Length - 1)];

    // ---- distances -------------------------------------------------------------------------------------------------

    /// <summary>Distance from a fixed query to a slot; structs, so the walk is compiled once per kind,
    /// inlined.</summary>
    interface IWalkDistance
    {
        float To(int slot);
    }

    /// <summary>Float32 distance from a query (of unit length, for cosine) to a slot's vector as given: cosine
    /// scales the dot product by the slot's 1/‖x‖.</summary>
    readonly struct FloatDistance(HnswStorage storage, float* query, DistanceMetric metric) : IWalkDistance
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float To(int slot)
        {
            return VectorMath.Distance(metric, new ReadOnlySpan<float>(query, storage.Dimensions),
                new ReadOnlySpan<float>(storage.Floats(slot), storage.Dimensions), storage.InverseNorm(slot));
        }
    }

    /// <summary>Squared L2 between int8 codes sharing one step: scale · (|q|² + |x|² − 2 q·x), with q·x from the
    /// biased (unsigned) query codes: q·x = Σ (q + 128)·x − 128 Σ x.</summary>
    readonly struct CodeL2Distance(HnswStorage storage, byte* query, int queryNorm, float scale) : IWalkDistance
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float To(int slot)
        {
            var record = storage.Record(slot);
            int norm = *(int*)(record + storage.NormOffset), sum = *(int*)(record + storage.NormOffset + 4);
            int dot = ScalarQuantizer.DotBiased(query, (sbyte*)(record + storage.PayloadOffset),
                storage.Dimensions) - 128 * sum;
            return scale * (queryNorm + norm - 2 * dot);
        }
    }

    /// <summary>Negated dot product: q·x = q·mean + qStep · step · (qcodes · codes).</summary>
    readonly struct CodeDotDistance(HnswStorage storage, byte* query, float scale, float offset) : IWalkDistance
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float To(int slot)
        {
            var record = storage.Record(slot);
            int sum = *(int*)(record + storage.NormOffset + 4);
            return offset - scale * (ScalarQuantizer.DotBiased(query, (sbyte*)(record + storage.PayloadOffset),
                storage.Dimensions) - 128 * sum);
        }
    }

    /// <summary>Squared L2 scale between codes: step², halved for cosine so it equals 1 − cos for unit
    /// vectors.</summary>
    float CodeScale(ScalarQuantizer qz) => qz.Step * qz.Step * (Metric == DistanceMetric.Cosine ? 0.5f : 1f);

    /// <summary>Build distance between two held slots, in the units of <see cref="ConnectQuery"/>.</summary>
    float BuildDistance(int a, int b, ScalarQuantizer? qz)
    {
        if (qz is null)
            return VectorMath.Distance(buildMetric, storage.Vector(a), storage.Vector(b),
                storage.InverseNorm(a) * storage.InverseNorm(b));
        return CodeScale(qz) * (storage.CodeNorm(a) + storage.CodeNorm(b) - 2 * ScalarQuantizer.Dot(storage.Codes(a),
            storage.Codes(b), Dimensions));
    }

    // ---- insertion -------------------------------------------------------------------------------------------------

    void Insert(int slot)
    {
        int level = storage.Level(slot);
        Entry? start;
        lock (registry)
        {
            start = entry;
            if (start is null)
            {
                entry = new Entry(slot, level);
                return;
            }
        }
        Connect(slot, start, quantizer);
        if (level > start.Level)
            lock (registry)
                if (entry is null || level > entry.Level) entry = new Entry(slot, level);
    }

    void Connect(int slot, Entry start, ScalarQuantizer? qz)
    {
        if (qz is null)
        {
            fixed (float* own = Comparable(slot)) Connect(slot, start, new FloatDistance(storage, own, buildMetric),
                qz);
        }
        else
        {
            var biased = scratch.Value!.Biased;
            fixed (byte* query = biased)
            {
                ScalarQuantizer.ToBiased(storage.Codes(slot), query, Dimensions);
                Connect(slot, start, new CodeL2Distance(storage, query, storage.CodeNorm(slot), CodeScale(qz)), qz);
            }
        }
    }

    /// <summary>Links a slot into every layer it lives on, from the entry point down.</summary>
    void Connect<TD>(int slot, Entry start, TD distance, ScalarQuantizer? qz) where TD : struct, IWalkDistance
    {
        int level = storage.Level(slot);
        int current = start.Slot;
        float currentDistance = distance.To(current);
        for (int l = start.Level; l > level; l--) (current, currentDistance) = Greedy(distance, current,
            currentDistance, l);
        // The node's own links are set on every layer before any other node links to it: a concurrent search can
        // only reach the node once it leads somewhere on every layer it lives on.
        var reverse = new List<(int Level, List<(int Slot, float Distance)> Selected)>();
        for (int l = Math.Min(level, start.Level); l >= 0; l--)
        {
            var candidates = SearchLayer(distance, current, options.EfConstruction, l, accept: null, liveOnly: false,
                skip: slot);
            if (candidates.Count == 0) continue;
            var selected = SelectNeighbours(candidates, l == 0 ? m0 : m, qz);
            lock (Stripe(slot)) SetLinks(slot, l, selected);
            reverse.Add((l, selected));
            current = candidates[0].Slot;
        }
        foreach (var (l, selected) in reverse)
        {
            bool linkedTo = false;
            foreach (var (neighbour, d) in selected) linkedTo |= AddLink(neighbour, slot, d, l, qz);
            // A point far from every other (an outlier, or a vector moved across the space) can lose every reverse
            // link to the pruning heuristic and become unreachable: its nearest neighbour keeps it in any case.
            if (!linkedTo) ReplaceNearestLink(selected[0].Slot, slot, l, qz);
        }
    }

    /// <summary>hnswlib's updatePoint: re-selects the neighbours of the slot's neighbours from their two-hop
    /// neighbourhood, then reconnects the slot itself from the entry point.</summary>
    void Repair(int slot, ScalarQuantizer? qz)
    {
        int level = storage.Level(slot);
        for (int l = 0; l <= level; l++)
        {
            var around = new HashSet<int>();
            var neighbours = ReadLinks(slot, l);
            foreach (var n in neighbours)
            {
                around.Add(n);
                foreach (var nn in ReadLinks(n, l)) around.Add(nn);
            }
            foreach (var n in neighbours)
            {
                var candidates = around.Where(c => c != n)
                    .Select(c => (Slot: c, Distance: BuildDistance(n, c, qz)))
                    .OrderBy(c => c.Distance).Take(options.EfConstruction).ToList();
                lock (Stripe(n)) SetLinks(n, l, SelectNeighbours(candidates, l == 0 ? m0 : m, qz));
            }
        }
        if (entry is { } start && start.Slot != slot) Connect(slot, start, qz);
    }

    int[] ReadLinks(int slot, int level)
    {
        var list = storage.Links(slot, level);
        int count = Math.Min(Volatile.Read(ref list[0]), list.Length - 1);
        return list.Slice(1, count).ToArray();
    }

    void SetLinks(int slot, int level, List<(int Slot, float Distance)> selected)
    {
        var list = storage.Links(slot, level);
        int count = Math.Min(selected.Count, list.Length - 1);
        for (int i = 0; i < count; i++) list[i + 1] = selected[i].Slot;
        Volatile.Write(ref list[0], count);
    }

    /// <summary>Adds a reverse link, pruning the neighbour's list with the heuristic when it is full; false when
    /// the pruning dropped the new link.</summary>
    bool AddLink(int from, int to, float distance, int level, ScalarQuantizer? qz)
    {
        lock (Stripe(from))
        {
            var list = storage.Links(from, level);
            if (HoldsOrAppends(list, to)) return true;
            int count = list[0];
            var candidates = new List<(int Slot, float Distance)>(count + 1) { (to, distance) };
            for (int i = 1; i <= count; i++) candidates.Add((list[i], BuildDistance(from, list[i], qz)));
            candidates.Sort((a, b) => a.Distance.CompareTo(b.Distance));
            var selected = SelectNeighbours(candidates, list.Length - 1, qz);
            SetLinks(from, level, selected);
            return selected.Exists(s => s.Slot == to);
        }
    }

    /// <summary>Links <paramref name="from"/> to <paramref name="to"/> in place of its nearest link: the nearest
    /// point sits where <paramref name="from"/>'s other neighbours reach it too, while a far link (another outlier
    /// kept this way) may be the only way to its point.</summary>
    void ReplaceNearestLink(int from, int to, int level, ScalarQuantizer? qz)
    {
        lock (Stripe(from))
        {
            var list = storage.Links(from, level);
            if (HoldsOrAppends(list, to)) return;
            int nearest = 1;
            float nearestDistance = float.MaxValue;
            for (int i = 1; i <= list[0]; i++)
            {
                float d = BuildDistance(from, list[i], qz);
                if (d < nearestDistance) (nearest, nearestDistance) = (i, d);
            }
            list[nearest] = to;
        }
    }

    /// <summary>True when the link list (count first) already holds <paramref name="to"/> or had room to append it;
    /// false when it is full without it. Called under the list's stripe lock.</summary>
    static bool HoldsOrAppends(Span<int> list, int to)
    {
        int count = list[0];
        for (int i = 1; i <= count; i++) if (list[i] == to) return true;
        if (count >= list.Length - 1) return false;
        list[count + 1] = to;
        Volatile.Write(ref list[0], count + 1);
        return true;
    }

    /// <summary>The neighbour-selection heuristic: keep a candidate only if it is closer to the base point than to
    /// every neighbour already kept, which spreads links across directions. <paramref name="sorted"/> is by
    /// distance.</summary>
    List<(int Slot, float Distance)> SelectNeighbours(List<(int Slot, float Distance)> sorted, int max,
        ScalarQuantizer? qz)
    {
        if (sorted.Count <= max) return sorted;
        var kept = new List<(int Slot, float Distance)>(max);
        foreach (var c in sorted)
        {
            if (kept.Count >= max) break;
            bool good = true;
            foreach (var k in kept)
                if (BuildDistance(c.Slot, k.Slot, qz) < c.Distance) { good = false; break; }
            if (good) kept.Add(c);
        }
        return kept;
    }

    // ---- the walk --------------------------------------------------------------------------------------------------

    (int Slot, float Distance) Greedy<TD>(TD distance, int current, float currentDistance, int level) where TD : struct,
        IWalkDistance
    {
        bool changed = true;
        while (changed)
        {
            changed = false;
            var list = storage.Links(current, level);
            int count = Math.Min(Volatile.Read(ref list[0]), list.Length - 1);
            for (int i = 1; i <= count; i++)
            {
                int n = list[i];
                float d = distance.To(n);
                if (d < currentDistance) { currentDistance = d; current = n; changed = true; }
            }
        }
        return (current, currentDistance);
    }

    /// <summary>Best-first search of one layer. Every reachable node routes the walk; only live nodes (unless
    /// <paramref name="liveOnly"/> is false) that <paramref name="accept"/> enter the results. Returns up to
    /// <paramref name="ef"/> results, closest first.</summary>
    List<(int Slot, float Distance)> SearchLayer<TD>(TD distance, int start, int ef, int level, Func<int, bool>? accept,
        bool liveOnly, int skip = -1)
        where TD : struct, IWalkDistance
    {
        var work = scratch.Value!;
        var seen = work.Visited;
        seen.Reset(storage.Capacity);
        var candidates = work.Candidates;
        var results = work.Results;
        candidates.Clear();
        results.Clear();
        float d0 = distance.To(start);
        seen.Add(start);
        candidates.Push(start, d0);
        float bound = float.PositiveInfinity;
        if (Accepts(start, accept, liveOnly, skip))
        {
            results.Push(start, d0);
            bound = d0;
        }
        Span<int> fresh = stackalloc int[m0];
        while (candidates.Count > 0)
        {
            var (c, dc) = candidates.Pop();
            if (dc > bound && results.Count >= ef) break;
            var list = storage.Links(c, level);
            int count = Math.Min(Volatile.Read(ref list[0]), list.Length - 1);
            // Unvisited neighbours first, all prefetched before the first distance: their memory loads overlap
            // instead of each visit waiting for its own.
            int unseen = 0;
            for (int i = 1; i <= count; i++)
            {
                int n = list[i];
                if (!seen.Add(n)) continue;
                fresh[unseen++] = n;
                storage.Prefetch(n);
            }
            for (int i = 0; i < unseen; i++)
            {
                int n = fresh[i];
                float d = distance.To(n);
                if (results.Count < ef || d < bound)
                {
                    candidates.Push(n, d);
                    if (Accepts(n, accept, liveOnly, skip))
                    {
                        results.Push(n, d);
                        if (results.Count > ef) results.Pop();
                        bound = results.TopDistance;
                    }
                }
            }
        }
        var found = new List<(int Slot, float Distance)>(results.Count);
        while (results.Count > 0) found.Add(results.Pop());
        found.Reverse();
        return found;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    bool Accepts(int slot, Func<int, bool>? accept, bool liveOnly, int skip) =>
        slot != skip && (!liveOnly || !storage.IsDeleted(slot)) && (accept is null || accept(slot));

    public IReadOnlyList<Neighbor> Search(ReadOnlySpan<float> query, SearchOptions options)
    {
        if (query.Length != Dimensions)
            throw new ArgumentException($"Expected {Dimensions} dimensions, got {query.Length}.", nameof(query));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.K, 1);
        var work = scratch.Value!;
        var q = work.Query;
        query.CopyTo(q);
        if (Metric == DistanceMetric.Cosine) VectorMath.NormalizeInPlace(q);
        // An id removed and re-inserted during the search can be met in its old and its new slot: such a rare torn
        // search is detected by the repeated id and run again.
        while (true)
        {
            var result = SearchOnce(q, options);
            var seen = new HashSet<string>(result.Count, StringComparer.Ordinal);
            if (result.All(n => seen.Add(n.Id))) return result;
        }
    }

    IReadOnlyList<Neighbor> SearchOnce(float[] q, SearchOptions options)
    {
        var start = entry;
        if (start is null) return [];
        var filter = options.Filter is { IsEmpty: false } f ? f : null;
        bool exclude = options.ExcludesAny;
        Func<int, bool>? accept = filter is null && !exclude ? null
            : slot => (!exclude || !(storage.Id(slot) is { } id && options.Excludes(id))) && (filter is null
                || filter.Matches(storage.Attributes(slot)));

        // Planner: a small index is scanned exactly (cheap, and exact even where pruning left a node without in-links);
        // a very selective filter is answered exactly from the matching points: from the token postings when
        // the filter has allow lists, else by a full scan when a sample says few points match.
        if (Count <= this.options.ExactBelowMatches) return ExactScan(q, options, accept);
        if (filter is not null)
        {
            var candidates = Candidates(filter);
            if (candidates is not null && candidates.Length <= this.options.ExactBelowMatches)
                return ExactScan(q, options, accept, candidates);
            if (candidates is null && EstimateMatches(filter) <= this.options.ExactBelowMatches)
                return ExactScan(q, options, accept);
        }

        int ef = Math.Max(options.Ef ?? this.options.EfSearch, options.K);
        while (true)
        {
            var found = Walk(q, start, ef, accept);
            var collector = new ResultCollector(options.K, options.PerCrowdingAttribute);
            foreach (var (slot, d) in found) collector.Add(storage.Id(slot)!, d,
                storage.Attributes(slot).CrowdingAttribute);
            var result = collector.ToList();
            // Crowding can leave fewer than k results from ef candidates: widen the walk, up to an exact scan.
            if (result.Count >= options.K || found.Count < ef) return result;
            if (ef >= Capacity) return ExactScan(q, options, accept);
            ef *= 2;
        }
    }

    /// <summary>The base-layer candidates of a query, closest first, with exact float32 distances: an int8 walk's
    /// candidates are re-ranked against the float32 vectors.</summary>
    List<(int Slot, float Distance)> Walk(float[] q, Entry start, int ef, Func<int, bool>? accept)
    {
        var qz = quantizer;
        fixed (float* query = q)
        {
            if (qz is null) return Descend(new FloatDistance(storage, query, Metric), start, ef, accept);
            var work = scratch.Value!;
            fixed (sbyte* qc = work.Codes)
            fixed (byte* qb = work.Biased)
            {
                List<(int Slot, float Distance)> found;
                if (Metric == DistanceMetric.DotProduct)
                {
                    float step = ScalarQuantizer.EncodeScaled(q, qc);
                    ScalarQuantizer.ToBiased(qc, qb, Dimensions);
                    float offset = -System.Numerics.Tensors.TensorPrimitives.Dot(q, qz.Mean);
                    found = Descend(new CodeDotDistance(storage, qb, step * qz.Step, offset), start, ef, accept);
                }
                else
                {
                    int norm = qz.Encode(q, qc);
                    ScalarQuantizer.ToBiased(qc, qb, Dimensions);
                    found = Descend(new CodeL2Distance(storage, qb, norm, CodeScale(qz)), start, ef, accept);
                }
                var exact = new FloatDistance(storage, query, Metric);
                for (int i = 0; i < found.Count; i++)
                {
                    if (i + 1 < found.Count) storage.PrefetchFloats(found[i + 1].Slot);
                    found[i] = (found[i].Slot, exact.To(found[i].Slot));
                }
                found.Sort((a, b) => a.Distance.CompareTo(b.Distance));
                return found;
            }
        }
    }

    List<(int Slot, float Distance)> Descend<TD>(TD distance, Entry start, int ef, Func<int, bool>? accept) where TD
        : struct, IWalkDistance
    {
        int current = start.Slot;
        float currentDistance = distance.To(current);
        for (int level = start.Level; level > 0; level--) (current, currentDistance) = Greedy(distance, current,
            currentDistance, level);
        return SearchLayer(distance, current, ef, 0, accept, liveOnly: true);
    }

    /// <summary>Estimated number of live points passing <paramref name="filter"/>, from a deterministic
    /// sample.</summary>
    int EstimateMatches(SearchFilter filter)
    {
        int used = Capacity;
        if (used == 0) return 0;
        int samples = Math.Min(used, 512), live = 0, pass = 0;
        double step = (double)used / samples;
        for (int i = 0; i < samples; i++)
        {
            int slot = (int)(i * step);
            if (storage.Id(slot) is null || storage.IsDeleted(slot)) continue;
            live++;
            if (filter.Matches(storage.Attributes(slot))) pass++;
        }
        return live == 0 ? 0 : (int)((double)pass / live * Count);
    }

    IReadOnlyList<Neighbor> ExactScan(float[] q, SearchOptions options, Func<int, bool>? accept, int[]? slots = null)
    {
        var collector = new ResultCollector(options.K, options.PerCrowdingAttribute);
        int used = slots?.Length ?? Capacity;
        for (int j = 0; j < used; j++)
        {
            int i = slots is null ? j : slots[j];
            var id = storage.Id(i);
            if (id is null || storage.IsDeleted(i) || (accept is not null && !accept(i))) continue;
            float d = VectorMath.Distance(Metric, q, storage.Vector(i), storage.InverseNorm(i));
            if (options.PerCrowdingAttribute is not null || d < collector.Threshold) collector.Add(id, d,
                storage.Attributes(i).CrowdingAttribute);
        }
        return collector.ToList();
    }

    // ---- snapshots -------------------------------------------------------------------------------------------------

    /// <summary>Writes the whole index to <paramref name="destination"/> (see <see cref="HnswSnapshot"/>). Writers are
    /// held off while it runs, so the snapshot is one consistent state; searches go on.</summary>
    public void Save(Stream destination)
    {
        exclusive.EnterWriteLock();
        try
        {
            Entry? start;
            int used;
            lock (registry) { start = entry; used = next; }
            var header = new HnswSnapshot.Header(Dimensions, Metric, options, used, start?.Slot ?? -1, start?.Level
                ?? -1, quantizer);
            HnswSnapshot.Write(destination, header, Enumerable.Range(0, used).Select(SlotState));
        }
        finally { exclusive.ExitWriteLock(); }
    }

    HnswSnapshot.SlotState? SlotState(int slot)
    {
        if (storage.Id(slot) is not { } id) return null;
        int level = storage.Level(slot);
        var links = new int[level + 1][];
        for (int l = 0; l <= level; l++) links[l] = ReadLinks(slot, l);
        return new HnswSnapshot.SlotState(id, storage.CopyFloats(slot), storage.Attributes(slot), links,
            storage.IsDeleted(slot));
    }

    /// <summary>Reads an index written by <see cref="Save"/>; throws <see cref="IndexSnapshotException"/> for a
    /// truncated or damaged snapshot. The graph is read, never rebuilt; int8 codes are recomputed from the float32
    /// vectors.
    /// <paramref name="rerankDirectory"/>: see <see cref="HnswOptions.RerankDirectory"/>.</summary>
    public static HnswIndex Load(Stream source, string? rerankDirectory = null)
    {
        HnswIndex? index = null;
        HnswSnapshot.Header header;
        try
        {
            header = HnswSnapshot.Read(source, h =>
            {
                index = new HnswIndex(h.Dimensions, h.Metric,
                    h.Options with { RerankDirectory = rerankDirectory })
                { quantizer = h.Quantizer };
                index.storage.EnsureCapacity(h.Slots);
                index.next = h.Slots;
                return index.LoadSlot;
            });
        }
        catch
        {
            index?.Dispose();
            throw;
        }
        index!.entry = header.EntrySlot >= 0 ? new Entry(header.EntrySlot, header.EntryLevel) : null;
        return index;
    }

    void LoadSlot(int slot, HnswSnapshot.SlotState s)
    {
        storage.Initialise(slot, s.Links.Length - 1);
        WriteVector(slot, s.Vector, quantizer);
        for (int l = 0; l < s.Links.Length; l++)
        {
            var list = storage.Links(slot, l);
            s.Links[l].CopyTo(list[1..]);
            list[0] = s.Links[l].Length;
        }
        storage.SetPoint(slot, s.Id, s.Attributes);
        storage.SetDeleted(slot, s.Deleted);
        if (s.Deleted) tombstones.Push(slot);
        else
        {
            slotOf[s.Id] = slot;
            Postings(s.Attributes, slot, add: true);
        }
    }

    /// <summary>Releases memory-mapped re-rank files: no search or write may still be running.</summary>
    public void Dispose()
    {
        storage.Dispose();
        exclusive.Dispose();
        scratch.Dispose();
        random.Dispose();
    }
}
