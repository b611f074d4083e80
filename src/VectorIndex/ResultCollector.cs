namespace Catalogs.VectorIndex;

/// <summary>
/// Keeps the best <c>k</c> candidates, best first, with an optional per-crowding-attribute cap.
/// Without crowding it is a bounded max-heap; with crowding every candidate is kept and the greedy
/// capped selection is made at the end (exact, and it lets shards' crowded top-k lists merge exactly).
/// </summary>
public sealed class ResultCollector(int k, int? perCrowdingAttribute)
{
    readonly PriorityQueue<(string Id, string? Crowd), float> heap = new(Comparer<float>.Create((a, b) =>
        b.CompareTo(a)));
    readonly List<(string Id, string? Crowd, float Distance)> all = [];

    /// <summary>The distance a candidate must beat to enter the result (∞ until k are held).</summary>
    public float Threshold => perCrowdingAttribute is null && heap.Count >= k && heap.TryPeek(out _, out var worst)
        ? worst : float.PositiveInfinity;

    public void Add(string id, float distance, string? crowdingAttribute)
    {
        if (perCrowdingAttribute is not null)
        {
            all.Add((id, crowdingAttribute, distance));
            return;
        }
        if (heap.Count < k) heap.Enqueue((id, crowdingAttribute), distance);
        else if (heap.TryPeek(out _, out var worst) && distance < worst) heap.EnqueueDequeue((id, crowdingAttribute),
            distance);
    }

    public IReadOnlyList<Neighbor> ToList()
    {
        if (perCrowdingAttribute is int cap)
        {
            all.Sort((a, b) => a.Distance != b.Distance ? a.Distance.CompareTo(b.Distance) : string.CompareOrdinal(a.Id,
                b.Id));
            var counts = new Dictionary<string, int>();
            var picked = new List<Neighbor>(k);
            foreach (var (id, crowd, distance) in all)
            {
                if (picked.Count == k) break;
                if (crowd is not null)
                {
                    counts.TryGetValue(crowd, out var n);
                    if (n >= cap) continue;
                    counts[crowd] = n + 1;
                }
                picked.Add(new Neighbor(id, distance));
            }
            return picked;
        }
        var result = new List<Neighbor>(heap.Count);
        while (heap.TryDequeue(out var item, out var distance)) result.Add(new Neighbor(item.Id, distance));
        result.Reverse();
        // Ties broken by id so results are deterministic across shards and runs.
        result.Sort((a, b) => a.Distance != b.Distance ? a.Distance.CompareTo(b.Distance) : string.CompareOrdinal(a.Id,
            b.Id));
        return result;
    }
}
