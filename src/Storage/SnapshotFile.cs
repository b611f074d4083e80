using System.Buffers.Binary;
using System.Globalization;
using System.IO.Hashing;

namespace Catalogs.Storage;

/// <summary>A snapshot as read back: the log sequence it covers and its entries.</summary>
public sealed record Snapshot(long Sequence, IReadOnlyList<byte[]> Entries);

/// <summary>
/// Point-in-time snapshots of a shard as a stream of opaque entries, written to a temporary file, fsynced and
/// renamed into place, so a crash leaves either the old or the new snapshot, never half of one.
/// </summary>
/// <remarks>
/// Layout: magic <c>CATSNAP1</c>, u32 format version, i64 sequence; then per entry <c>[u32 length][u32
/// CRC-32][bytes]</c>;
/// then the end marker <c>0xFFFFFFFF</c>, i64 entry count and the CRC-32 of everything before it.
/// </remarks>
public static class SnapshotFile
{
    const string Prefix = "snapshot-", Suffix = ".snap";
    const uint FormatVersion = 1, EndMarker = 0xFFFF_FFFF;
    static ReadOnlySpan<byte> Magic => "CATSNAP1"u8;

    /// <summary>Writes a snapshot covering the log up to <paramref name="sequence"/> and keeps the newest
    /// <paramref name="keep"/> snapshots (an older one is the fallback should the newest ever be unreadable).</summary>
    public static Task<string> WriteAsync(string directory, long sequence,
        IEnumerable<ReadOnlyMemory<byte>> entries, int keep = 2, CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(directory);
        var target = NumberedFiles.Name(directory, Prefix, sequence, Suffix);
        var temp = target + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            WriteTo(stream, sequence, entries, cancellationToken);
            stream.Flush(flushToDisk: true);
        }
        FileDurability.Publish(temp, target);
        foreach (var old in List(directory).SkipLast(keep)) File.Delete(old.Path);
        return Task.FromResult(target);
    }

    /// <summary>Writes one snapshot in this format to <paramref name="stream"/> (any store: a file, a blob).</summary>
    public static void WriteTo(Stream stream, long sequence, IEnumerable<ReadOnlyMemory<byte>> entries,
        CancellationToken cancellationToken = default)
    {
        var crc = new Crc32();
        var header = new byte[20];
        Magic.CopyTo(header);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), FormatVersion);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(12), sequence);
        Write(stream, crc, header);
        long count = 0;
        var prefix = new byte[8];
        foreach (var entry in entries)
        {
            cancellationToken.ThrowIfCancellationRequested();
            BinaryPrimitives.WriteUInt32LittleEndian(prefix, (uint)entry.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(prefix.AsSpan(4), Crc32.HashToUInt32(entry.Span));
            Write(stream, crc, prefix);
            Write(stream, crc, entry.Span);
            count++;
        }
        var trailer = new byte[16];
        BinaryPrimitives.WriteUInt32LittleEndian(trailer, EndMarker);
        BinaryPrimitives.WriteInt64LittleEndian(trailer.AsSpan(4), count);
        crc.Append(trailer.AsSpan(0, 12));
        BinaryPrimitives.WriteUInt32LittleEndian(trailer.AsSpan(12), crc.GetCurrentHashAsUInt32());
        stream.Write(trailer);
        stream.Flush();
    }

    static void Write(Stream stream, Crc32 crc, ReadOnlySpan<byte> bytes)
    {
        crc.Append(bytes);
        stream.Write(bytes);
    }

    /// <summary>The newest readable snapshot, or null when there is none. A damaged newest snapshot is skipped for
    /// an older one; when every snapshot is damaged this throws, since silently starting empty would lose
    /// data.</summary>
    public static Snapshot? ReadLatest(string directory, Action<string>? onSkipped = null)
    {
        if (!Directory.Exists(directory)) return null;
        var all = List(directory);
        StorageCorruptException? last = null;
        for (int i = all.Count - 1; i >= 0; i--)
        {
            try { return Read(all[i].Path); }
            catch (StorageCorruptException ex)
            {
                last = ex;
                onSkipped?.Invoke(ex.Message);
            }
        }
        return last is null ? null : throw last;
    }

    /// <summary>Reads and verifies one snapshot file.</summary>
    public static Snapshot Read(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        return ReadFrom(stream, Path.GetFileName(path));
    }

    /// <summary>Reads and verifies one snapshot from a seekable <paramref name="stream"/>; <paramref name="name"/>
    /// names it in errors.</summary>
    public static Snapshot ReadFrom(Stream stream, string name)
    {
        var crc = new Crc32();
        var header = new byte[20];
        ReadExactly(stream, header, crc, name);
        if (!header.AsSpan(0, 8).SequenceEqual(Magic))
            throw new StorageCorruptException($"Snapshot '{name}' is not a snapshot file (bad magic).");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(8));
        if (version != FormatVersion)
            throw new StorageCorruptException($"Snapshot '{name}' has format version {version}; this build reads " +
            $"{FormatVersion}.");
        long sequence = BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(12));
        var entries = new List<byte[]>();
        var prefix = new byte[8];
        while (true)
        {
            ReadExactly(stream, prefix.AsSpan(0, 4), crc, name);
            uint length = BinaryPrimitives.ReadUInt32LittleEndian(prefix);
            if (length == EndMarker) break;
            ReadExactly(stream, prefix.AsSpan(4, 4), crc, name);
            if (length > stream.Length - stream.Position)
                throw new StorageCorruptException($"Snapshot '{name}' is truncated or has a bad entry length at byte " +
                $"{stream.Position}.");
            var entry = new byte[length];
            ReadExactly(stream, entry, crc, name);
            if (Crc32.HashToUInt32(entry) != BinaryPrimitives.ReadUInt32LittleEndian(prefix.AsSpan(4)))
                throw new StorageCorruptException($"Snapshot '{name}' entry {entries.Count} fails its checksum.");
            entries.Add(entry);
        }
        var tail = new byte[12];
        ReadExactly(stream, tail.AsSpan(0, 8), crc, name);
        long count = BinaryPrimitives.ReadInt64LittleEndian(tail);
        uint expected = crc.GetCurrentHashAsUInt32();
        ReadExactly(stream, tail.AsSpan(8, 4), null, name);
        if (count != entries.Count || BinaryPrimitives.ReadUInt32LittleEndian(tail.AsSpan(8)) != expected)
            throw new StorageCorruptException($"Snapshot '{name}' fails its final checksum.");
        return new Snapshot(sequence, entries);
    }

    static void ReadExactly(Stream stream, Span<byte> buffer, Crc32? crc, string name)
    {
        if (stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false) < buffer.Length)
            throw new StorageCorruptException($"Snapshot '{name}' is truncated.");
        crc?.Append(buffer);
    }

    static List<(long Sequence, string Path)> List(string directory) => NumberedFiles.List(directory, Prefix, Suffix);
}
