using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;

namespace Catalogs.VectorIndex;

/// <summary>Thrown when an index snapshot is truncated, damaged or of another format.</summary>
public sealed class IndexSnapshotException(string message, Exception? inner = null) : IOException(message, inner);

/// <summary>
/// The whole <see cref="HnswIndex"/> — vectors, graph, attributes, tombstones — as one streamed, versioned,
/// checksummed file. Loading reads vectors and links in bulk and never rebuilds the graph.
/// </summary>
/// <remarks>
/// Layout (little-endian): magic <c>CATHNSW1</c>, u32 format version (3), u32 dimensions, u8 metric, u32 M,
/// u32 efConstruction, u32 efSearch, u32 exactBelowMatches, u8 quantization, u32 quantizeAfter, bool trained and, if
/// trained, f32 step and the f32 mean per dimension (codes are recomputed on load); i32 slots, i32 entry slot (−1:
/// empty), i32 entry level; then per slot a state byte
/// (0 empty, 1 live, 2 tombstone) and, unless empty: id, level, the float vector as given, per level a link count and
/// the
/// links, and the attributes; then the end marker <c>END!</c> and the CRC-32 of every byte before it.
/// </remarks>
public static class HnswSnapshot
{
    // 3: vectors as given; version 2 held cosine vectors normalised, and is rebuilt from the products instead.
    const uint FormatVersion = 3;
    internal static ReadOnlySpan<byte> Magic => "CATHNSW1"u8;
    static ReadOnlySpan<byte> EndMarker => "END!"u8;

    /// <summary>A stream wrapper that keeps a running CRC-32 of what passes through.</summary>
    internal sealed class CrcStream(Stream inner, bool writing) : Stream
    {
        public readonly Crc32 Crc = new();
        public bool Tracking = true;
        public override bool CanRead => !writing;
        public override bool CanSeek => false;
        public override bool CanWrite => writing;
        public override long Length => throw new NotSupportedException();
        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override int Read(Span<byte> buffer)
        {
            int n = inner.Read(buffer);
            if (Tracking) Crc.Append(buffer[..n]);
            return n;
        }
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (Tracking) Crc.Append(buffer);
            inner.Write(buffer);
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    /// <summary>One slot: its links per layer (neighbour slots only, no count prefix).</summary>
    internal readonly record struct SlotState(string Id, float[] Vector, PointAttributes Attributes, int[][] Links,
        bool Deleted);

    internal sealed record Header(int Dimensions, DistanceMetric Metric, HnswOptions Options, int Slots, int EntrySlot,
        int EntryLevel, ScalarQuantizer? Quantizer);

    internal static void Write(Stream destination, Header header, IEnumerable<SlotState?> slots)
    {
        var crc = new CrcStream(new BufferedStream(destination, 1 << 20), writing: true);
        using (var w = new BinaryWriter(crc, Encoding.UTF8, leaveOpen: true))
        {
            var options = header.Options;
            w.Write(Magic);
            w.Write(FormatVersion);
            w.Write(header.Dimensions);
            w.Write((byte)header.Metric);
            w.Write(options.M);
            w.Write(options.EfConstruction);
            w.Write(options.EfSearch);
            w.Write(options.ExactBelowMatches);
            w.Write((byte)options.Quantization);
            w.Write(options.QuantizeAfter);
            w.Write(header.Quantizer is not null);
            if (header.Quantizer is { } q)
            {
                w.Write(q.Step);
                w.Write(MemoryMarshal.AsBytes(q.Mean.AsSpan()));
            }
            w.Write(header.Slots);
            w.Write(header.EntrySlot);
            w.Write(header.EntryLevel);
            foreach (var slot in slots)
            {
                if (slot is not { } s) { w.Write((byte)0); continue; }
                w.Write((byte)(s.Deleted ? 2 : 1));
                w.Write(s.Id);
                w.Write((byte)(s.Links.Length - 1));
                w.Write(MemoryMarshal.AsBytes(s.Vector.AsSpan()));
                foreach (var links in s.Links)
                {
                    w.Write((ushort)links.Length);
                    w.Write(MemoryMarshal.AsBytes(links.AsSpan()));
                }
                WriteAttributes(w, s.Attributes);
            }
            w.Write(EndMarker);
            w.Flush();
            crc.Tracking = false;
            w.Write(crc.Crc.GetCurrentHashAsUInt32());
            w.Flush();
        }
        crc.Flush();
    }

    /// <summary>Reads a snapshot, handing each slot to the sink <paramref name="open"/> returns for its header, so
    /// slots go straight into the index being loaded. Throws <see cref="IndexSnapshotException"/> when
    /// damaged.</summary>
    internal static Header Read(Stream source, Func<Header, Action<int, SlotState>> open)
    {
        var crc = new CrcStream(new BufferedStream(source, 1 << 20), writing: false);
        using var r = new BinaryReader(crc, Encoding.UTF8, leaveOpen: true);
        try
        {
            Span<byte> magic = stackalloc byte[8];
            r.BaseStream.ReadExactly(magic);
            if (!magic.SequenceEqual(Magic))
                throw new IndexSnapshotException("Not an HNSW index snapshot (bad magic).");
            uint version = r.ReadUInt32();
            if (version != FormatVersion)
                throw new IndexSnapshotException($"Index snapshot format {version} is not readable by this build " +
                $"(reads {FormatVersion}).");
            int dims = r.ReadInt32();
            var metric = (DistanceMetric)r.ReadByte();
            var options = new HnswOptions(M: r.ReadInt32(), EfConstruction: r.ReadInt32(), EfSearch: r.ReadInt32(),
                ExactBelowMatches: r.ReadInt32(),
                Quantization: (VectorQuantization)r.ReadByte(), QuantizeAfter: r.ReadInt32());
            if (dims <= 0 || dims > 1 << 16 || options.M is < 2 or > 1024 || !Enum.IsDefined(metric)
                || !Enum.IsDefined(options.Quantization))
                throw new IndexSnapshotException("Index snapshot header is damaged.");
            ScalarQuantizer? quantizer = null;
            if (r.ReadBoolean())
            {
                float step = r.ReadSingle();
                var mean = new float[dims];
                r.BaseStream.ReadExactly(MemoryMarshal.AsBytes(mean.AsSpan()));
                if (!(step > 0) || !float.IsFinite(step))
                    throw new IndexSnapshotException("Index snapshot header is damaged (quantizer).");
                quantizer = new ScalarQuantizer(mean, step);
            }
            int count = r.ReadInt32();
            int entrySlot = r.ReadInt32(), entryLevel = r.ReadInt32();
            if (count < 0 || entrySlot >= count) throw new IndexSnapshotException("Index snapshot header is damaged.");
            var header = new Header(dims, metric, options, count, entrySlot, entryLevel, quantizer);
            var sink = open(header);
            for (int i = 0; i < count; i++)
            {
                byte state = r.ReadByte();
                if (state == 0) continue;
                if (state > 2) throw new IndexSnapshotException($"Index snapshot is damaged at slot {i}.");
                string id = r.ReadString();
                int level = r.ReadByte();
                var vector = new float[dims];
                r.BaseStream.ReadExactly(MemoryMarshal.AsBytes(vector.AsSpan()));
                var links = new int[level + 1][];
                for (int l = 0; l <= level; l++)
                {
                    int n = r.ReadUInt16();
                    int capacity = l == 0 ? 2 * options.M : options.M;
                    if (n > capacity)
                        throw new IndexSnapshotException($"Index snapshot is damaged at slot {i} (link count {n}).");
                    links[l] = new int[n];
                    r.BaseStream.ReadExactly(MemoryMarshal.AsBytes(links[l].AsSpan()));
                    foreach (var link in links[l])
                        if ((uint)link >= (uint)count)
                            throw new IndexSnapshotException($"Index snapshot is damaged at slot {i} (link out of " +
                            $"range).");
                }
                sink(i, new SlotState(id, vector, ReadAttributes(r), links, state == 2));
            }
            Span<byte> end = stackalloc byte[4];
            r.BaseStream.ReadExactly(end);
            uint expected = crc.Crc.GetCurrentHashAsUInt32();
            crc.Tracking = false;
            if (!end.SequenceEqual(EndMarker) || r.ReadUInt32() != expected)
                throw new IndexSnapshotException("Index snapshot fails its checksum.");
            return header;
        }
        catch (EndOfStreamException ex)
        {
            throw new IndexSnapshotException("Index snapshot is truncated.", ex);
        }
    }

    internal static void WriteAttributes(BinaryWriter w, PointAttributes a)
    {
        w.Write(a.Restricts.Count);
        foreach (var r in a.Restricts)
        {
            w.Write(r.Namespace);
            WriteStrings(w, r.Allow);
            WriteStrings(w, r.Deny);
        }
        w.Write(a.Numeric.Count);
        foreach (var n in a.Numeric)
        {
            w.Write(n.Namespace);
            w.Write(n.Value);
        }
        w.Write(a.CrowdingAttribute is not null);
        if (a.CrowdingAttribute is not null) w.Write(a.CrowdingAttribute);
    }

    internal static PointAttributes ReadAttributes(BinaryReader r)
    {
        var restricts = new TokenRestrict[ReadCount(r)];
        for (int i = 0; i < restricts.Length; i++) restricts[i] = new TokenRestrict(r.ReadString(), ReadStrings(r),
            ReadStrings(r));
        var numeric = new NumericValue[ReadCount(r)];
        for (int i = 0; i < numeric.Length; i++) numeric[i] = new NumericValue(r.ReadString(), r.ReadDouble());
        var crowd = r.ReadBoolean() ? r.ReadString() : null;
        return restricts.Length == 0 && numeric.Length == 0 && crowd is null ? PointAttributes.None
            : new PointAttributes(restricts, numeric, crowd);
    }

    static void WriteStrings(BinaryWriter w, IReadOnlyList<string> values)
    {
        w.Write(values.Count);
        foreach (var v in values) w.Write(v);
    }

    static string[] ReadStrings(BinaryReader r)
    {
        var values = new string[ReadCount(r)];
        for (int i = 0; i < values.Length; i++) values[i] = r.ReadString();
        return values;
    }

    static int ReadCount(BinaryReader r)
    {
        int n = r.ReadInt32();
        return n is >= 0 and <= 1_000_000 ? n
            : throw new IndexSnapshotException("Index snapshot is damaged (bad attribute count).");
    }
}
