using System.Buffers;
using System.IO.MemoryMappedFiles;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using Microsoft.Win32.SafeHandles;

namespace Catalogs.VectorIndex;

/// <summary>
/// The slots of an <see cref="HnswIndex"/>, laid out for the graph walk: each slot's base-layer links and the vector
/// the walk reads (float32, or int8 codes) sit in one 64-byte-aligned record, so a visit touches one contiguous run
/// of cache lines, as in hnswlib. Float32 vectors of a quantized index live apart (read only when re-ranking).
/// </summary>
/// <remarks>
/// Records live in chunks that never move once allocated (pinned arrays), so readers hold raw pointers without locks
/// and growth never copies vectors. Chunks start small (256 slots) and double up to 16,384 slots, so a small shard
/// stays small. Record: <c>[count][m0 links][Σ code²][Σ code][1/‖x‖][pad][payload]</c>.
/// The float32 re-rank vectors of a quantized index are pinned arrays, or, given a directory, memory-mapped files
/// (one per chunk, never resized): then the process keeps only the walk records, and the page cache the rest.
/// Mapped vectors are written and read in bulk through the file (<see cref="WriteFloats"/>, <see
/// cref="ReadFloats"/>), not through the mapping, so loading or snapshotting a shard does not make every page
/// resident in the process: only what searches re-rank is.
/// </remarks>
unsafe sealed partial class HnswStorage : IDisposable
{
    const int FirstChunkShift = 8, DoublingChunks = 7, LastChunkSize = 1 << (FirstChunkShift + DoublingChunks - 1);
    const int DoublingSlots = (1 << FirstChunkShift) * ((1 << DoublingChunks) - 1);

    sealed class Chunk
    {
        public required byte[] HotArray;
        public required byte* Hot;
        public byte[]? ColdArray;
        public float* Cold;
        public long ColdLength;
        public MemoryMappedFile? ColdFile;
        public SafeFileHandle? ColdHandle;
        public MemoryMappedViewAccessor? ColdView;
        public required string?[] Ids;
        public required PointAttributes?[] Attributes;
        public required int[]?[] Upper;
        public required byte[] Levels;
        public required byte[] Deleted;
    }

    volatile Chunk[] chunks = [];
    int capacity;
    readonly string? rerankDirectory;
    bool disposed;

    public HnswStorage(int dimensions, int m, bool quantized, string? rerankDirectory = null)
    {
        this.rerankDirectory = quantized ? rerankDirectory : null;
        if (this.rerankDirectory is not null) Directory.CreateDirectory(this.rerankDirectory);
        Dimensions = dimensions;
        M = m;
        M0 = 2 * m;
        Quantized = quantized;
        NormOffset = Align(4 * (1 + M0), 4);
        PayloadOffset = Align(NormOffset + 12, 64);
        RecordSize = Align(PayloadOffset + (quantized ? dimensions : 4 * dimensions), 64);
        ColdSize = quantized ? Align(4 * dimensions, 64) : 0;
    }

    public int Dimensions { get; }
    public int M { get; }
    public int M0 { get; }
    public bool Quantized { get; }
    public int NormOffset { get; }
    public int PayloadOffset { get; }
    public int RecordSize { get; }
    public int ColdSize { get; }

    /// <summary>Slots backed by memory.</summary>
    public int Capacity => Volatile.Read(ref capacity);

    /// <summary>Bytes of the records the walk reads (links and walk vectors).</summary>
    public long HotBytes => chunks.Sum(c => (long)c.HotArray.Length);

    /// <summary>Bytes of the float32 vectors kept apart for re-ranking, in memory (0 without quantization or when
    /// they are memory-mapped).</summary>
    public long ColdBytes => chunks.Sum(c => (long)(c.ColdArray?.Length ?? 0));

    /// <summary>Bytes of memory-mapped re-rank files.</summary>
    public long MappedBytes => chunks.Sum(c => c.ColdFile is null ? 0 : c.ColdLength);

    static int Align(int value, int to) => (value + to - 1) / to * to;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static int Locate(int slot, out int offset)
    {
        if (slot < DoublingSlots)
        {
            int chunk = System.Numerics.BitOperations.Log2((uint)(slot >> FirstChunkShift) + 1);
            offset = slot - (1 << FirstChunkShift) * ((1 << chunk) - 1);
            return chunk;
        }
        int rest = slot - DoublingSlots;
        offset = rest & (LastChunkSize - 1);
        return DoublingChunks + rest / LastChunkSize;
    }

    static int ChunkSize(int chunk) => chunk < DoublingChunks ? 1 << (FirstChunkShift + chunk) : LastChunkSize;

    /// <summary>Backs slots [0, <paramref name="slots"/>) with memory; the caller serialises growth.</summary>
    public void EnsureCapacity(int slots)
    {
        var current = chunks;
        var list = current.ToList();
        while (capacity < slots)
        {
            int size = ChunkSize(list.Count);
            list.Add(NewChunk(size, list.Count));
            Volatile.Write(ref capacity, capacity + size);
        }
        if (list.Count != current.Length) chunks = list.ToArray();
    }

    Chunk NewChunk(int size, int number)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var hot = GC.AllocateUninitializedArray<byte>(size * RecordSize + 64, pinned: true);
        var chunk = new Chunk
        {
            HotArray = hot,
            Hot = AlignedStart(hot),
            Ids = new string?[size],
            Attributes = new PointAttributes?[size],
            Upper = new int[]?[size],
            Levels = new byte[size],
            Deleted = new byte[size],
        };
        if (ColdSize > 0 && rerankDirectory is not null)
        {
            // A fresh sparse file per chunk, mapped once: pages come from disk when a re-rank first reads them.
            chunk.ColdLength = (long)size * ColdSize;
            var path = Path.Combine(rerankDirectory,
                $"rerank-{Environment.ProcessId}-{RuntimeHelpers.GetHashCode(this):x8}-{number:D4}.f32");
            chunk.ColdHandle = File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite);
            RandomAccess.SetLength(chunk.ColdHandle, chunk.ColdLength);
            chunk.ColdFile = MemoryMappedFile.CreateFromFile(chunk.ColdHandle, null, chunk.ColdLength,
                MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: true);
            File.Delete(path); // the mapping keeps the data; nothing is left behind when the process ends
            chunk.ColdView = chunk.ColdFile.CreateViewAccessor(0, chunk.ColdLength, MemoryMappedFileAccess.ReadWrite);
            byte* p = null;
            chunk.ColdView.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            chunk.Cold = (float*)(p + chunk.ColdView.PointerOffset);
        }
        else if (ColdSize > 0)
        {
            chunk.ColdArray = GC.AllocateUninitializedArray<byte>(size * ColdSize + 64, pinned: true);
            chunk.Cold = (float*)AlignedStart(chunk.ColdArray);
        }
        return chunk;
    }

    /// <summary>Unmaps re-rank files. Pinned arrays need nothing: readers still holding them keep them alive.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        foreach (var chunk in chunks)
        {
            if (chunk.ColdView is null) continue;
            chunk.ColdView.SafeMemoryMappedViewHandle.ReleasePointer();
            chunk.ColdView.Dispose();
            chunk.ColdFile!.Dispose();
            chunk.ColdHandle!.Dispose();
        }
    }

    static byte* AlignedStart(byte[] pinned)
    {
        var start = (byte*)Unsafe.AsPointer(ref pinned[0]);
        return start + ((64 - (nint)start % 64) % 64);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte* Record(int slot)
    {
        var chunk = chunks[Locate(slot, out int offset)];
        return chunk.Hot + (nint)offset * RecordSize;
    }

    /// <summary>The vector the walk reads: float32 without quantization, else the int8 codes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte* Payload(int slot) => Record(slot) + PayloadOffset;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public sbyte* Codes(int slot) => (sbyte*)Payload(slot);

    /// <summary>Σ code² of the slot's int8 codes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int CodeNorm(int slot) => *(int*)(Record(slot) + NormOffset);

    public void SetCodeStats(int slot, int norm, int sum)
    {
        var record = Record(slot);
        *(int*)(record + NormOffset) = norm;
        *(int*)(record + NormOffset + 4) = sum;
    }

    /// <summary>1/‖x‖ of the slot's float32 vector: cosine distances to the vector as given, without keeping a
    /// normalised copy.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float InverseNorm(int slot) => *(float*)(Record(slot) + NormOffset + 8);

    public void SetInverseNorm(int slot, float value) => *(float*)(Record(slot) + NormOffset + 8) = value;

    /// <summary>The slot's float32 vector, exactly as it was given.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float* Floats(int slot)
    {
        if (!Quantized) return (float*)Payload(slot);
        var chunk = chunks[Locate(slot, out int offset)];
        return (float*)((byte*)chunk.Cold + (nint)offset * ColdSize);
    }

    /// <summary>The slot's vector where the walk and re-ranking read it (through the mapping, when mapped).</summary>
    public ReadOnlySpan<float> Vector(int slot) => new(Floats(slot), Dimensions);

    /// <summary>Stores the slot's float32 vector; mapped vectors go through the file (page cache, not this process's
    /// resident memory).</summary>
    public void WriteFloats(int slot, ReadOnlySpan<float> vector)
    {
        if (MappedChunk(slot, out long position) is { } handle)
            RandomAccess.Write(handle, MemoryMarshal.AsBytes(vector[..Dimensions]), position);
        else vector[..Dimensions].CopyTo(new Span<float>(Floats(slot), Dimensions));
    }

    /// <summary>Copies the slot's float32 vector out; mapped vectors are read through the file.</summary>
    public void ReadFloats(int slot, Span<float> destination)
    {
        if (MappedChunk(slot, out long position) is { } handle)
        {
            int read = RandomAccess.Read(handle, MemoryMarshal.AsBytes(destination[..Dimensions]), position);
            if (read != 4 * Dimensions) throw new IOException($"Re-rank file read {read} of {4 * Dimensions} bytes");
        }
        else Vector(slot).CopyTo(destination);
    }

    public float[] CopyFloats(int slot)
    {
        var copy = new float[Dimensions];
        ReadFloats(slot, copy);
        return copy;
    }

    /// <summary>Whether the slot holds exactly <paramref name="vector"/>.</summary>
    public bool FloatsEqual(int slot, ReadOnlySpan<float> vector)
    {
        if (MappedChunk(slot, out _) is null) return Vector(slot).SequenceEqual(vector);
        var buffer = ArrayPool<float>.Shared.Rent(Dimensions);
        try
        {
            ReadFloats(slot, buffer);
            return buffer.AsSpan(0, Dimensions).SequenceEqual(vector);
        }
        finally { ArrayPool<float>.Shared.Return(buffer); }
    }

    SafeFileHandle? MappedChunk(int slot, out long position)
    {
        position = 0;
        if (!Quantized) return null;
        var chunk = chunks[Locate(slot, out int offset)];
        position = (long)offset * ColdSize;
        return chunk.ColdHandle;
    }

    /// <summary>Drops this process's mappings of the re-rank pages (the page cache keeps them, dirty ones
    /// included, so nothing is lost): after a pass that read every vector through the mapping, the process's
    /// resident memory is again the walk records and what searches re-rank.</summary>
    public void ReleaseMappedPages()
    {
        foreach (var chunk in chunks)
            if (chunk.ColdView is not null && Madvise(chunk.Cold, (nuint)chunk.ColdLength, DontNeed) != 0)
                throw new IOException($"madvise failed: {Marshal.GetLastPInvokeErrorMessage()}");
    }

    const int DontNeed = 4; // MADV_DONTNEED: for a shared file mapping, later reads come from the page cache

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static partial int Madvise(void* address, nuint length, int advice);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prefetch(int slot)
    {
        if (Sse.IsSupported)
        {
            var p = Payload(slot);
            Sse.Prefetch0(p);
            Sse.Prefetch0(p + 64);
        }
    }

    public void PrefetchFloats(int slot)
    {
        if (Sse.IsSupported) Sse.Prefetch0(Floats(slot));
    }

    /// <summary>The slot's links on <paramref name="level"/>: [count, neighbour slots…].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Span<int> Links(int slot, int level)
    {
        if (level == 0) return new Span<int>(Record(slot), 1 + M0);
        var chunk = chunks[Locate(slot, out int offset)];
        return chunk.Upper[offset].AsSpan((level - 1) * (M + 1), M + 1);
    }

    public int Level(int slot)
    {
        var chunk = chunks[Locate(slot, out int offset)];
        return chunk.Levels[offset];
    }

    public string? Id(int slot)
    {
        var chunk = chunks[Locate(slot, out int offset)];
        return Volatile.Read(ref chunk.Ids[offset]);
    }

    public PointAttributes Attributes(int slot)
    {
        var chunk = chunks[Locate(slot, out int offset)];
        return Volatile.Read(ref chunk.Attributes[offset]) ?? PointAttributes.None;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsDeleted(int slot)
    {
        var chunk = chunks[Locate(slot, out int offset)];
        return Volatile.Read(ref chunk.Deleted[offset]) != 0;
    }

    public void SetDeleted(int slot, bool deleted)
    {
        var chunk = chunks[Locate(slot, out int offset)];
        Volatile.Write(ref chunk.Deleted[offset], deleted ? (byte)1 : (byte)0);
    }

    /// <summary>Prepares a fresh slot with <paramref name="level"/> layers and no links yet.</summary>
    public void Initialise(int slot, int level)
    {
        var chunk = chunks[Locate(slot, out int offset)];
        chunk.Levels[offset] = (byte)level;
        chunk.Upper[offset] = level > 0 ? new int[level * (M + 1)] : null;
        *(int*)Record(slot) = 0;
    }

    /// <summary>Writes id and attributes (the vector is written by the caller through <see cref="Floats"/>).</summary>
    public void SetPoint(int slot, string id, PointAttributes attributes)
    {
        var chunk = chunks[Locate(slot, out int offset)];
        Volatile.Write(ref chunk.Attributes[offset], attributes);
        Volatile.Write(ref chunk.Ids[offset], id);
    }
}
