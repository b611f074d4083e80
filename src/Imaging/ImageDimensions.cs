using System.Buffers.Binary;

namespace Catalogs.Imaging;

/// <summary>
/// Reads width and height straight from the header bytes of JPEG, PNG, GIF, BMP and WebP, before any codec sees the
/// image: decompression bombs are refused on the declared size alone, and a codec never allocates for them.
/// </summary>
public static class ImageDimensions
{
    /// <summary>The declared size, or null when the header is cut short or malformed.</summary>
    public static (int Width, int Height)? Read(ReadOnlySpan<byte> b, string format) => format switch
    {
        "JPEG" => Jpeg(b),
        "PNG" => b.Length >= 24 ? Checked(BinaryPrimitives.ReadUInt32BigEndian(b[16..]), BinaryPrimitives.ReadUInt32BigEndian(b[20..])) : null,
        "GIF" => b.Length >= 10 ? Checked(BinaryPrimitives.ReadUInt16LittleEndian(b[6..]), BinaryPrimitives.ReadUInt16LittleEndian(b[8..])) : null,
        "BMP" => Bmp(b),
        "WebP" => WebP(b),
        _ => null,
    };

    static (int, int)? Checked(long w, long h) => w > 0 && h > 0 && w <= int.MaxValue && h <= int.MaxValue ? ((int)w, (int)h) : null;

    static (int, int)? Jpeg(ReadOnlySpan<byte> b)
    {
        int i = 2;
        while (i + 4 <= b.Length)
        {
            if (b[i] != 0xFF) return null;
            byte marker = b[i + 1];
            if (marker == 0xFF) { i++; continue; }                       // fill byte
            if (marker is 0x01 or (>= 0xD0 and <= 0xD8)) { i += 2; continue; } // markers without a length
            int length = BinaryPrimitives.ReadUInt16BigEndian(b[(i + 2)..]);
            bool startOfFrame = marker is >= 0xC0 and <= 0xCF and not (0xC4 or 0xC8 or 0xCC);
            if (startOfFrame)
                return i + 9 <= b.Length ? Checked(BinaryPrimitives.ReadUInt16BigEndian(b[(i + 7)..]), BinaryPrimitives.ReadUInt16BigEndian(b[(i + 5)..])) : null;
            if (length < 2) return null;
            i += 2 + length;
        }
        return null;
    }

    static (int, int)? Bmp(ReadOnlySpan<byte> b)
    {
        if (b.Length < 26) return null;
        uint dib = BinaryPrimitives.ReadUInt32LittleEndian(b[14..]);
        if (dib == 12) return Checked(BinaryPrimitives.ReadUInt16LittleEndian(b[18..]), BinaryPrimitives.ReadUInt16LittleEndian(b[20..]));
        return Checked(Math.Abs((long)BinaryPrimitives.ReadInt32LittleEndian(b[18..])), Math.Abs((long)BinaryPrimitives.ReadInt32LittleEndian(b[22..])));
    }

    static (int, int)? WebP(ReadOnlySpan<byte> b)
    {
        if (b.Length < 30) return null;
        var chunk = b.Slice(12, 4);
        if (chunk.SequenceEqual("VP8 "u8))
            return Checked(BinaryPrimitives.ReadUInt16LittleEndian(b[26..]) & 0x3FFF, BinaryPrimitives.ReadUInt16LittleEndian(b[28..]) & 0x3FFF);
        if (chunk.SequenceEqual("VP8L"u8))
        {
            uint bits = BinaryPrimitives.ReadUInt32LittleEndian(b[21..]);
            return Checked((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1);
        }
        if (chunk.SequenceEqual("VP8X"u8))
            return Checked((b[24] | b[25] << 8 | b[26] << 16) + 1, (b[27] | b[28] << 8 | b[29] << 16) + 1);
        return null;
    }
}
