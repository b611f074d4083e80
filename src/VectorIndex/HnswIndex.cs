namespace Catalogs.VectorIndex;

/// <summary>Graph parameters of <see cref="HnswIndex"/>.</summary>
/// <param name="M">Links per node on upper layers (twice that on the base layer).</param>
/// <param name="EfConstruction">Candidate list size while inserting: higher builds a better graph, slower.</param>
/// <param name="EfSearch">Default candidate list size while searching (per query: <see cref="SearchOptions.Ef"/>).</param>
/// <param name="ExactBelowMatches">An index with at most this many points, or a filtered query whose matches are at most
/// this many, is answered by an exact scan (of the matching points): the graph walk would visit most of them anyway.</param>
public sealed record HnswOptions(int M = 16, int EfConstruction = 200, int EfSearch = 64, int Seed = 42, int ExactBelowMatches = 2_000);

/// <summary>
/// Hierarchical navigable small world graph (Malkov &amp; Yashunin) for live catalogs: concurrent inserts, updates and
/// deletes while searching, filters evaluated during the walk, crowding inside the search.
/// </summary>
/// <remarks>
/// Writers lock only the neighbour lists they change (striped locks), so several threads can insert at once.
/// Readers take no lock: a neighbour list is published entries first, count last, so a reader always sees valid ids.
/// A removed point is a tombstone: it is never returned but still routes searches; its slot is reused by the next
/// insert, which takes over its links and repairs the neighbourhood (hnswlib's "replace deleted"), so an index under
/// churn neither grows without bound nor loses its connectivity.
/// </remarks>
public sealed class HnswIndex : IVectorIndex, IDisposable
{
    sealed class Node(string id, float[] vector, PointAttributes attributes, int[][] links)
    {
        public readonly string Id = id;
        public readonly float[] Vector = vector;
        public readonly PointAttributes Attributes = attributes;
        /// <summary>Per layer: [count, neighbour slots…].</summary>
        public readonly int[][] Links = links;
        public volatile bool Deleted;
        public int Level => Links.Length - 1;
    }

    sealed record Entry(int Slot, int Level);

    readonly HnswOptions options;
    readonly int m, m0;
    readonly double levelFactor;
    readonly ReaderWriterLockSlim growth = new(LockRecursionPolicy.SupportsRecursion);
    readonly Lock registry = new();
    readonly object[] stripes = Enumerable.Range(0, 4096).Select(_ => new object()).ToArray();
    readonly Dictionary<string, int> slotOf = new(StringComparer.Ordinal);
    readonly Stack<int> tombstones = new();
    /// <summary>Namespace → allow token → live slots: lets the planner find a selective filter's matches without a scan.</summary>
    readonly Dictionary<string, Dictionary<string, HashSet<int>>> postings = new(StringComparer.Ordinal);
    /// <summary>Per-thread search scratch (visited marks, heaps), reused so a search allocates almost nothing.</summary>
    sealed class Scratch
    {
        public readonly VisitedSet Visited = new();
        public readonly PriorityQueue<int, float> Candidates = new();
        public readonly PriorityQueue<int, float> Results = new(Comparer<float>.Create((a, b) => b.CompareTo(a)));
    }

    readonly ThreadLocal<Scratch> scratch = new(() => new Scratch());
    readonly ThreadLocal<Random> random;
    volatile Node?[] nodes = new Node?[1024];
    volatile Entry? entry;
    int next;

    public HnswIndex(int dimensions, DistanceMetric metric, HnswOptions? options = null)
    {
        Dimensions = dimensions > 0 ? dimensions : throw new ArgumentOutOfRangeException(nameof(dimensions));
        Metric = metric;
        this.options = options ?? new HnswOptions();
        m = Math.Max(2, this.options.M);
        m0 = 2 * m;
        levelFactor = 1 / Math.Log(m);
        int seed = this.options.Seed;
        random = new ThreadLocal<Random>(() => new Random(Interlocked.Increment(ref seed)));
    }

    public int Dimensions { get; }
    public DistanceMetric Metric { get; }

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

    /// <summary>Inserts many points on <paramref name="threads"/> threads.</summary>
    public void UpsertMany(IReadOnlyList<(string Id, float[] Vector, PointAttributes Attributes)> points, int threads = 0) =>
        Parallel.For(0, points.Count, new ParallelOptions { MaxDegreeOfParallelism = threads > 0 ? threads : Environment.ProcessorCount },
            i => Upsert(points[i].Id, points[i].Vector, points[i].Attributes));

    public void Upsert(string id, ReadOnlySpan<float> vector, PointAttributes attributes)
    {
        ArgumentNullException.ThrowIfNull(id);
        if (vector.Length != Dimensions) throw new ArgumentException($"Expected {Dimensions} dimensions, got {vector.Length}.", nameof(vector));
        var stored = vector.ToArray();
        if (Metric == DistanceMetric.Cosine) VectorMath.NormalizeInPlace(stored);

        growth.EnterReadLock();
        try
        {
            int slot;
            Node? previous = null;
            while (true)
            {
                lock (registry)
                {
                    if (slotOf.TryGetValue(id, out slot))
                    {
                        previous = nodes[slot];
                        Postings(previous!.Attributes, slot, add: false);
                    }
                    else if (tombstones.Count > 0)
                    {
                        slot = tombstones.Pop();
                        previous = nodes[slot];
                        slotOf[id] = slot;
                    }
                    else if (next < nodes.Length)
                    {
                        slot = next++;
                        previous = null;
                        slotOf[id] = slot;
                    }
                    else slot = -1;
                    if (slot >= 0)
                    {
                        Postings(attributes, slot, add: true);
                        break;
                    }
                }
                Grow();
            }

            if (previous is null)
            {
                Insert(slot, new Node(id, stored, attributes, NewLinks(RandomLevel())));
                return;
            }
            // Update or reuse of a tombstone: keep the slot's level and links (others point here), then repair.
            var links = previous.Links.Select(l => { lock (Stripe(slot)) return (int[])l.Clone(); }).ToArray();
            var node = new Node(id, stored, attributes, links);
            bool sameVector = !previous.Deleted && previous.Id == id && previous.Vector.AsSpan().SequenceEqual(stored);
            Volatile.Write(ref nodes[slot], node);
            if (!sameVector) Repair(slot);
        }
        finally { growth.ExitReadLock(); }
    }

    public bool Remove(string id)
    {
        lock (registry)
        {
            if (!slotOf.Remove(id, out var slot)) return false;
            nodes[slot]!.Deleted = true;
            Postings(nodes[slot]!.Attributes, slot, add: false);
            tombstones.Push(slot);
            return true;
        }
    }

    /// <summary>Adds or removes a slot's allow tokens in <see cref="postings"/>; the caller holds the registry lock.</summary>
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

    /// <summary>The live slots that can pass <paramref name="filter"/>'s allow lists (a superset of its matches), or null
    /// when the filter has no allow list to narrow by.</summary>
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

    void Grow()
    {
        growth.ExitReadLock();
        growth.EnterWriteLock();
        try
        {
            if (next >= nodes.Length)
            {
                var bigger = new Node?[nodes.Length * 2];
                Array.Copy(nodes, bigger, nodes.Length);
                nodes = bigger;
            }
        }
        finally
        {
            growth.ExitWriteLock();
            growth.EnterReadLock();
        }
    }

    int RandomLevel() => (int)(-Math.Log(1 - random.Value!.NextDouble()) * levelFactor);

    int[][] NewLinks(int level)
    {
        var links = new int[level + 1][];
        links[0] = new int[m0 + 1];
        for (int l = 1; l <= level; l++) links[l] = new int[m + 1];
        return links;
    }

    object Stripe(int slot) => stripes[slot & (stripes.Length - 1)];

    float Distance(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => VectorMath.Distance(Metric, a, b);

    float Distance(ReadOnlySpan<float> query, int slot, Node?[] snapshot) => Distance(query, snapshot[slot]!.Vector);

    /// <summary>The graph is built with a true metric: for dot product (no metric: a point is not its own nearest
    /// neighbour) links follow Euclidean neighbourhoods, which navigate well, while queries still rank by dot product.</summary>
    float BuildDistance(ReadOnlySpan<float> a, ReadOnlySpan<float> b) =>
        VectorMath.Distance(Metric == DistanceMetric.DotProduct ? DistanceMetric.SquaredL2 : Metric, a, b);

    void Insert(int slot, Node node)
    {
        Volatile.Write(ref nodes[slot], node);
        Entry? start;
        lock (registry)
        {
            start = entry;
            if (start is null)
            {
                entry = new Entry(slot, node.Level);
                return;
            }
        }
        Connect(slot, node, start);
        if (node.Level > start.Level)
            lock (registry)
                if (entry is null || node.Level > entry.Level) entry = new Entry(slot, node.Level);
    }

    /// <summary>Links <paramref name="node"/> into every layer it lives on, from the entry point down.</summary>
    void Connect(int slot, Node node, Entry start)
    {
        var snapshot = nodes;
        int current = start.Slot;
        float currentDistance = BuildDistance(node.Vector, snapshot[current]!.Vector);
        for (int level = start.Level; level > node.Level; level--)
            (current, currentDistance) = Greedy(node.Vector, current, currentDistance, level, snapshot, BuildDistance);
        // The node's own links are set on every layer before any other node links to it: a concurrent search can
        // only reach the node once it leads somewhere on every layer it lives on.
        var reverse = new List<(int Level, List<(int Slot, float Distance)> Selected)>();
        for (int level = Math.Min(node.Level, start.Level); level >= 0; level--)
        {
            var candidates = SearchLayer(node.Vector, current, efConstructionOrK: options.EfConstruction, level, snapshot, accept: null, BuildDistance, skip: slot);
            if (candidates.Count == 0) continue;
            var selected = SelectNeighbours(candidates, level == 0 ? m0 : m, snapshot);
            lock (Stripe(slot)) SetLinks(node, level, selected);
            reverse.Add((level, selected));
            current = candidates[0].Slot;
        }
        foreach (var (level, selected) in reverse)
            foreach (var (neighbour, distance) in selected) AddLink(neighbour, slot, distance, level, snapshot);
    }

    /// <summary>hnswlib's updatePoint: re-selects the neighbours of the slot's neighbours from their two-hop
    /// neighbourhood, then reconnects the slot itself from the entry point.</summary>
    void Repair(int slot)
    {
        var snapshot = nodes;
        var node = snapshot[slot]!;
        for (int level = 0; level <= node.Level; level++)
        {
            var around = new HashSet<int>();
            var neighbours = ReadLinks(node, level);
            foreach (var n in neighbours)
            {
                around.Add(n);
                if (snapshot[n] is { } nn && nn.Level >= level)
                    foreach (var nnn in ReadLinks(nn, level)) around.Add(nnn);
            }
            foreach (var n in neighbours)
            {
                if (snapshot[n] is not { } neighbour || neighbour.Level < level) continue;
                var candidates = around.Where(c => c != n && snapshot[c] is { } cn && cn.Level >= level)
                    .Select(c => (Slot: c, Distance: BuildDistance(neighbour.Vector, snapshot[c]!.Vector)))
                    .OrderBy(c => c.Distance).Take(options.EfConstruction).ToList();
                lock (Stripe(n)) SetLinks(neighbour, level, SelectNeighbours(candidates, level == 0 ? m0 : m, snapshot));
            }
        }
        if (entry is { } start && start.Slot != slot) Connect(slot, node, start);
    }

    delegate float DistanceFunction(ReadOnlySpan<float> a, ReadOnlySpan<float> b);

    (int Slot, float Distance) Greedy(float[] query, int current, float currentDistance, int level, Node?[] snapshot, DistanceFunction distance)
    {
        bool changed = true;
        while (changed)
        {
            changed = false;
            var list = snapshot[current]!.Links[level];
            int count = Volatile.Read(ref list[0]);
            for (int i = 1; i <= count; i++)
            {
                int n = list[i];
                if (n >= snapshot.Length || snapshot[n] is null) continue;
                float d = distance(query, snapshot[n]!.Vector);
                if (d < currentDistance) { currentDistance = d; current = n; changed = true; }
            }
        }
        return (current, currentDistance);
    }

    static int[] ReadLinks(Node node, int level)
    {
        var list = node.Links[level];
        int count = Volatile.Read(ref list[0]);
        var copy = new int[count];
        Array.Copy(list, 1, copy, 0, count);
        return copy;
    }

    static void SetLinks(Node node, int level, List<(int Slot, float Distance)> selected)
    {
        var list = node.Links[level];
        int count = Math.Min(selected.Count, list.Length - 1);
        for (int i = 0; i < count; i++) list[i + 1] = selected[i].Slot;
        Volatile.Write(ref list[0], count);
    }

    /// <summary>Adds a reverse link, pruning the neighbour's list with the heuristic when it is full.</summary>
    void AddLink(int from, int to, float distance, int level, Node?[] snapshot)
    {
        var node = snapshot[from]!;
        lock (Stripe(from))
        {
            var list = node.Links[level];
            int count = list[0];
            for (int i = 1; i <= count; i++) if (list[i] == to) return;
            if (count < list.Length - 1)
            {
                list[count + 1] = to;
                Volatile.Write(ref list[0], count + 1);
                return;
            }
            var candidates = new List<(int Slot, float Distance)>(count + 1) { (to, distance) };
            for (int i = 1; i <= count; i++) candidates.Add((list[i], BuildDistance(node.Vector, snapshot[list[i]]!.Vector)));
            candidates.Sort((a, b) => a.Distance.CompareTo(b.Distance));
            SetLinks(node, level, SelectNeighbours(candidates, list.Length - 1, snapshot));
        }
    }

    /// <summary>The neighbour-selection heuristic: keep a candidate only if it is closer to the base point than to
    /// every neighbour already kept, which spreads links across directions. <paramref name="sorted"/> is by distance.</summary>
    List<(int Slot, float Distance)> SelectNeighbours(List<(int Slot, float Distance)> sorted, int max, Node?[] snapshot)
    {
        if (sorted.Count <= max) return sorted;
        var kept = new List<(int Slot, float Distance)>(max);
        foreach (var c in sorted)
        {
            if (kept.Count >= max) break;
            var cv = snapshot[c.Slot]!.Vector;
            bool good = true;
            foreach (var k in kept)
                if (BuildDistance(cv, snapshot[k.Slot]!.Vector) < c.Distance) { good = false; break; }
            if (good) kept.Add(c);
        }
        return kept;
    }

    /// <summary>Best-first search of one layer. Every reachable node routes the walk; only nodes that
    /// <paramref name="accept"/> enter the results. Returns up to <paramref name="efConstructionOrK"/> results, closest first.</summary>
    List<(int Slot, float Distance)> SearchLayer(ReadOnlySpan<float> query, int start, int efConstructionOrK, int level, Node?[] snapshot, Func<Node, bool>? accept, DistanceFunction distance, int skip = -1)
    {
        var work = scratch.Value!;
        var seen = work.Visited;
        seen.Reset(snapshot.Length);
        var candidates = work.Candidates;
        var results = work.Results;
        candidates.Clear();
        results.Clear();
        float d0 = distance(query, snapshot[start]!.Vector);
        seen.Add(start);
        candidates.Enqueue(start, d0);
        float bound = float.PositiveInfinity;
        if (start != skip && (accept is null || accept(snapshot[start]!)))
        {
            results.Enqueue(start, d0);
            bound = d0;
        }
        while (candidates.TryDequeue(out var c, out var dc))
        {
            if (dc > bound && results.Count >= efConstructionOrK) break;
            var list = snapshot[c]!.Links[level];
            int count = Volatile.Read(ref list[0]);
            for (int i = 1; i <= count; i++)
            {
                int n = list[i];
                if (n >= snapshot.Length || !seen.Add(n)) continue;
                var node = snapshot[n];
                if (node is null || node.Level < level) continue;
                float d = distance(query, node.Vector);
                if (results.Count < efConstructionOrK || d < bound)
                {
                    candidates.Enqueue(n, d);
                    if (n != skip && (accept is null || accept(node)))
                    {
                        results.Enqueue(n, d);
                        if (results.Count > efConstructionOrK) results.Dequeue();
                        results.TryPeek(out _, out bound);
                    }
                }
            }
        }
        var list2 = new List<(int Slot, float Distance)>(results.Count);
        while (results.TryDequeue(out var s, out var d)) list2.Add((s, d));
        list2.Reverse();
        return list2;
    }

    public IReadOnlyList<Neighbor> Search(ReadOnlySpan<float> query, SearchOptions options)
    {
        if (query.Length != Dimensions) throw new ArgumentException($"Expected {Dimensions} dimensions, got {query.Length}.", nameof(query));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.K, 1);
        var q = query.ToArray();
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
        var snapshot = nodes;
        var filter = options.Filter is { IsEmpty: false } f ? f : null;
        var exclude = options.ExcludeId;
        bool Accept(Node n) => !n.Deleted && (exclude is null || n.Id != exclude) && (filter is null || filter.Matches(n.Attributes));

        // Planner: a small index is scanned exactly (cheap, and exact even where pruning left a node without in-links);
        // a very selective filter is answered exactly from the matching points: from the token postings when
        // the filter has allow lists, else by a full scan when a sample says few points match.
        if (Count <= this.options.ExactBelowMatches) return ExactScan(q, options, snapshot, Accept);
        if (filter is not null)
        {
            var candidates = Candidates(filter);
            if (candidates is not null && candidates.Length <= this.options.ExactBelowMatches)
                return ExactScan(q, options, snapshot, Accept, candidates);
            if (candidates is null && EstimateMatches(filter, snapshot) <= this.options.ExactBelowMatches)
                return ExactScan(q, options, snapshot, Accept);
        }

        int current = start.Slot;
        float currentDistance = Distance(q, current, snapshot);
        for (int level = start.Level; level > 0; level--)
            (current, currentDistance) = Greedy(q, current, currentDistance, level, snapshot, Distance);
        int ef = Math.Max(options.Ef ?? this.options.EfSearch, options.K);
        while (true)
        {
            var found = SearchLayer(q, current, ef, 0, snapshot, Accept, Distance);
            var collector = new ResultCollector(options.K, options.PerCrowdingAttribute);
            foreach (var (slot, d) in found) collector.Add(snapshot[slot]!.Id, d, snapshot[slot]!.Attributes.CrowdingAttribute);
            var result = collector.ToList();
            // Crowding can leave fewer than k results from ef candidates: widen the walk, up to an exact scan.
            if (result.Count >= options.K || found.Count < ef) return result;
            if (ef >= Capacity) return ExactScan(q, options, snapshot, Accept);
            ef *= 2;
        }
    }

    /// <summary>Estimated number of live points passing <paramref name="filter"/>, from a deterministic sample.</summary>
    int EstimateMatches(SearchFilter filter, Node?[] snapshot)
    {
        int used = Math.Min(Capacity, snapshot.Length);
        if (used == 0) return 0;
        int samples = Math.Min(used, 512), live = 0, pass = 0;
        double step = (double)used / samples;
        for (int i = 0; i < samples; i++)
        {
            var node = snapshot[(int)(i * step)];
            if (node is null || node.Deleted) continue;
            live++;
            if (filter.Matches(node.Attributes)) pass++;
        }
        return live == 0 ? 0 : (int)((double)pass / live * Count);
    }

    IReadOnlyList<Neighbor> ExactScan(float[] q, SearchOptions options, Node?[] snapshot, Func<Node, bool> accept, int[]? slots = null)
    {
        var collector = new ResultCollector(options.K, options.PerCrowdingAttribute);
        int used = slots?.Length ?? Math.Min(Capacity, snapshot.Length);
        for (int j = 0; j < used; j++)
        {
            int i = slots is null ? j : slots[j];
            if (i >= snapshot.Length) continue;
            var node = snapshot[i];
            if (node is null || !accept(node)) continue;
            float d = Distance(q, node.Vector);
            if (options.PerCrowdingAttribute is not null || d < collector.Threshold) collector.Add(node.Id, d, node.Attributes.CrowdingAttribute);
        }
        return collector.ToList();
    }

    /// <summary>Writes the whole index to <paramref name="destination"/> (see <see cref="HnswSnapshot"/>). Writers are
    /// held off while it runs, so the snapshot is one consistent state; searches go on.</summary>
    public void Save(Stream destination)
    {
        growth.EnterWriteLock();
        try
        {
            Entry? start;
            int used;
            lock (registry) { start = entry; used = next; }
            var snapshot = nodes;
            var slots = new HnswSnapshot.SlotState?[used];
            for (int i = 0; i < used; i++)
                if (snapshot[i] is { } n) slots[i] = new HnswSnapshot.SlotState(n.Id, n.Vector, n.Attributes, n.Links, n.Deleted);
            HnswSnapshot.Write(destination, this, options, slots, start?.Slot ?? -1, start?.Level ?? -1);
        }
        finally { growth.ExitWriteLock(); }
    }

    /// <summary>Reads an index written by <see cref="Save"/>; throws <see cref="IndexSnapshotException"/> for a truncated
    /// or damaged snapshot.</summary>
    public static HnswIndex Load(Stream source)
    {
        var loaded = HnswSnapshot.Read(source);
        var index = new HnswIndex(loaded.Dimensions, loaded.Metric, loaded.Options);
        int capacity = 1024;
        while (capacity < loaded.Slots.Length) capacity *= 2;
        var nodes = new Node?[capacity];
        for (int i = 0; i < loaded.Slots.Length; i++)
        {
            if (loaded.Slots[i] is not { } s) continue;
            var node = new Node(s.Id, s.Vector, s.Attributes, s.Links) { Deleted = s.Deleted };
            nodes[i] = node;
            if (s.Deleted) index.tombstones.Push(i);
            else
            {
                index.slotOf[s.Id] = i;
                index.Postings(s.Attributes, i, add: true);
            }
        }
        index.nodes = nodes;
        index.next = loaded.Slots.Length;
        index.entry = loaded.EntrySlot >= 0 ? new Entry(loaded.EntrySlot, loaded.EntryLevel) : null;
        return index;
    }

    public void Dispose()
    {
        growth.Dispose();
        scratch.Dispose();
        random.Dispose();
    }
}
