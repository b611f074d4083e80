using System.Buffers.Binary;
using Catalogs.Imaging;

namespace Catalogs.ImageFuzz;

/// <summary>
/// Deterministic mutations of valid seed images: input <c>i</c> of a run is a pure function of (seeds, run seed, i),
/// so a crashing input can be rebuilt from its number alone. Half the edits land in the first 128 bytes, where the
/// headers are; the rest anywhere.
/// </summary>
public sealed class ImageMutator(IReadOnlyList<byte[]> seeds, int runSeed)
{
    static readonly uint[] Interesting =
        [0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x3FFF, 0x4000, 0x7FFF, 0x8000, 0xFFFF, 7000, 0x10000, 0x7FFFFFFF,
            0x80000000, 0xFFFFFFFF];

    /// <summary>The seed files of a format, in name order, from the folder next to the program.</summary>
    public static byte[][] LoadSeeds(string directory, ImageFormat format) =>
        Directory.GetFiles(directory).Order(StringComparer.Ordinal)
            .Select(File.ReadAllBytes).Where(b => ImageInspector.Sniff(b) == format).ToArray();

    public byte[] Make(int index)
    {
        var random = new Random(unchecked(runSeed * 1_000_003 + index));
        var bytes = new List<byte>(seeds[index % seeds.Count]);
        int edits = 1 + random.Next(4);
        for (int e = 0; e < edits && bytes.Count > 0; e++) Mutate(bytes, random);
        var result = bytes.ToArray();
        // PNG decoders refuse a chunk whose CRC is wrong: mend them in half the inputs to reach the chunk parsers.
        if (ImageInspector.Sniff(result) == ImageFormat.Png && random.Next(2) == 0) MendPngCrcs(result);
        return result;
    }

    static void Mutate(List<byte> b, Random random)
    {
        int Position() => random.Next(2) == 0 ? random.Next(Math.Min(b.Count, 128)) : random.Next(b.Count);
        switch (random.Next(8))
        {
            case 0: // flip bits
                for (int n = 1 + random.Next(8); n > 0; n--) b[Position()] ^= (byte)(1 << random.Next(8));
                break;
            case 1: // random bytes
                for (int n = 1 + random.Next(4); n > 0; n--) b[Position()] = (byte)random.Next(256);
                break;
            case 2 or 3: // an interesting 16- or 32-bit value, either byte order
                {
                    uint value = Interesting[random.Next(Interesting.Length)];
                    int width = random.Next(2) == 0 ? 2 : 4, at = Position();
                    Span<byte> field = stackalloc byte[4];
                    if (random.Next(2) == 0) BinaryPrimitives.WriteUInt32LittleEndian(field, value);
                    else BinaryPrimitives.WriteUInt32BigEndian(field, width == 2 ? value << 16 : value);
                    for (int k = 0; k < width && at + k < b.Count; k++) b[at + k] = field[k];
                    break;
                }
            case 4: // truncate
                {
                    int keep = Math.Max(1, random.Next(b.Count));
                    b.RemoveRange(keep, b.Count - keep);
                    break;
                }
            case 5: // duplicate a slice (repeated chunks and frames)
                {
                    int start = Position(), length = Math.Min(random.Next(1, 64), b.Count - start);
                    b.InsertRange(Math.Min(b.Count, start + length + random.Next(16)), b.GetRange(start, length));
                    break;
                }
            case 6: // delete a slice
                {
                    int start = Position();
                    b.RemoveRange(start, Math.Min(random.Next(1, 32), b.Count - start));
                    break;
                }
            default: // insert random bytes
                {
                    var noise = new byte[random.Next(1, 16)];
                    random.NextBytes(noise);
                    b.InsertRange(Position(), noise);
                    break;
                }
        }
    }

    static void MendPngCrcs(byte[] png)
    {
        for (long i = 8; i + 12 <= png.Length;)
        {
            long length = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan((int)i));
            if (length > png.Length - i - 12) break;
            var crc = System.IO.Hashing.Crc32.HashToUInt32(png.AsSpan((int)i + 4, (int)length + 4));
            BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan((int)(i + 8 + length)), crc);
            i += 12 + length;
        }
    }
}
