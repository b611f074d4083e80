using System.Runtime.CompilerServices;

namespace Catalogs.VectorIndex;

/// <summary>
/// A binary heap of (distance, slot), closest on top — or farthest on top when built with <c>farthestFirst</c>.
/// Specialised for the graph walk: no comparer delegate, no allocation once grown.
/// </summary>
sealed class DistanceHeap(bool farthestFirst)
{
    // Stored keys are negated for a farthest-first heap, so one min-heap serves both.
    (float Key, int Slot)[] items = new (float, int)[64];
    readonly float sign = farthestFirst ? -1f : 1f;

    public int Count { get; private set; }

    public void Clear() => Count = 0;

    /// <summary>Distance of the top element.</summary>
    public float TopDistance => items[0].Key * sign;

    public int TopSlot => items[0].Slot;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Push(int slot, float distance)
    {
        if (Count == items.Length) Array.Resize(ref items, items.Length * 2);
        float key = distance * sign;
        int i = Count++;
        while (i > 0)
        {
            int parent = (i - 1) >> 1;
            if (items[parent].Key <= key) break;
            items[i] = items[parent];
            i = parent;
        }
        items[i] = (key, slot);
    }

    public (int Slot, float Distance) Pop()
    {
        var top = items[0];
        var last = items[--Count];
        int i = 0;
        while (true)
        {
            int child = 2 * i + 1;
            if (child >= Count) break;
            if (child + 1 < Count && items[child + 1].Key < items[child].Key) child++;
            if (items[child].Key >= last.Key) break;
            items[i] = items[child];
            i = child;
        }
        if (Count > 0) items[i] = last;
        return (top.Slot, top.Key * sign);
    }
}
