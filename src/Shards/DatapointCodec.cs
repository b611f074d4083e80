using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Catalogs.Grains;

namespace Catalogs.Shards;

/// <summary>
/// Binary form of a datapoint for the shard log and snapshots: the vector as raw little-endian floats (fast to
/// write and read back), the rest as a small JSON document.
/// Layout: u8 version, i32 id length, id UTF-8, i32 dimensions, floats, i64 updated-at ticks, i32 JSON length, JSON.
/// </summary>
public static class DatapointCodec
{
    const byte Version = 1;
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    sealed record Meta(Restrict[] Restricts, NumericRestrict[] NumericRestricts, string? CrowdingTag,
        string? Attributes,
        string? Image = null, long ImageBytes = 0, string? Color = null, byte[]? ColorHistogram = null);

    public static byte[] Encode(Datapoint point)
    {
        var id = Encoding.UTF8.GetBytes(point.Id);
        var meta = JsonSerializer.SerializeToUtf8Bytes(new Meta(point.Restricts, point.NumericRestricts,
            point.CrowdingTag,
            point.AttributesJson, point.ImageSha256, point.ImageBytes, point.Color?.Dominant, point.Color?.Histogram),
            Json);
        var vector = MemoryMarshal.AsBytes(point.FeatureVector.AsSpan());
        var bytes = new byte[1 + 4 + id.Length + 4 + vector.Length + 8 + 4 + meta.Length];
        var span = bytes.AsSpan();
        span[0] = Version;
        int at = 1;
        BinaryPrimitives.WriteInt32LittleEndian(span[at..], id.Length); at += 4;
        id.CopyTo(span[at..]); at += id.Length;
        BinaryPrimitives.WriteInt32LittleEndian(span[at..], point.FeatureVector.Length); at += 4;
        vector.CopyTo(span[at..]); at += vector.Length;
        BinaryPrimitives.WriteInt64LittleEndian(span[at..], point.UpdatedAt.UtcTicks); at += 8;
        BinaryPrimitives.WriteInt32LittleEndian(span[at..], meta.Length); at += 4;
        meta.CopyTo(span[at..]);
        return bytes;
    }

    public static Datapoint Decode(ReadOnlySpan<byte> span)
    {
        if (span.Length < 1 || span[0] != Version)
            throw new InvalidDataException($"Unknown datapoint encoding version {(span.Length > 0 ? span[0] : -1)}.");
        int at = 1;
        int idLength = BinaryPrimitives.ReadInt32LittleEndian(span[at..]); at += 4;
        var id = Encoding.UTF8.GetString(span.Slice(at, idLength)); at += idLength;
        int dims = BinaryPrimitives.ReadInt32LittleEndian(span[at..]); at += 4;
        var vector = MemoryMarshal.Cast<byte, float>(span.Slice(at, dims * 4)).ToArray(); at += dims * 4;
        var ticks = BinaryPrimitives.ReadInt64LittleEndian(span[at..]); at += 8;
        int metaLength = BinaryPrimitives.ReadInt32LittleEndian(span[at..]); at += 4;
        var meta = JsonSerializer.Deserialize<Meta>(span.Slice(at, metaLength), Json)!;
        return new Datapoint(id, vector, meta.Restricts ?? [], meta.NumericRestricts ?? [], meta.CrowdingTag,
            meta.Attributes,
            new DateTimeOffset(ticks, TimeSpan.Zero), meta.Image, meta.ImageBytes,
            meta.Color is { } color && meta.ColorHistogram is { } histogram ? new ProductColor(color, histogram)
                : null);
    }
}
