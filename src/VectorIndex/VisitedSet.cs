namespace Catalogs.VectorIndex;

/// <summary>A reusable "visited" marker per search: a generation stamp per slot, so clearing is O(1).</summary>
sealed class VisitedSet
{
    int[] marks = [];
    int generation;

    public void Reset(int capacity)
    {
        if (marks.Length < capacity) marks = new int[Math.Max(capacity, marks.Length * 2)];
        if (++generation == int.MaxValue)
        {
            Array.Clear(marks);
            generation = 1;
        }
    }

    /// <summary>Marks <paramref name="slot"/>; false when it was already marked in this search.</summary>
    public bool Add(int slot)
    {
        // A slot added by a writer after this search started lies beyond the size taken at Reset.
        if ((uint)slot >= (uint)marks.Length) Array.Resize(ref marks, Math.Max(slot + 1, marks.Length * 2));
        if (marks[slot] == generation) return false;
        marks[slot] = generation;
        return true;
    }
}
