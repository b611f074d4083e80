using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace Catalogs.Bench;

/// <summary>Reads and writes the usual ANN benchmark formats: .fvecs/.ivecs (int32 dimension, then the row) and .npy
/// (float32, 2-D, C order).</summary>
static class VectorFiles
{
    public static float[][] Read(string path) => Path.GetExtension(path) switch
    {
        ".fvecs" => ReadVecs(path),
        ".npy" => ReadNpy(path),
        var other => throw new NotSupportedException($"Unknown vector file type '{other}' (use .fvecs or .npy)."),
    };

    static float[][] ReadVecs(string path)
    {
        var bytes = File.ReadAllBytes(path);
        int d = BinaryPrimitives.ReadInt32LittleEndian(bytes);
        int row = 4 + 4 * d;
        var rows = new float[bytes.Length / row][];
        for (int i = 0; i < rows.Length; i++)
            rows[i] = MemoryMarshal.Cast<byte, float>(bytes.AsSpan(i * row + 4, 4 * d)).ToArray();
        return rows;
    }

    static float[][] ReadNpy(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (!bytes.AsSpan(1, 5).SequenceEqual("NUMPY"u8)) throw new InvalidDataException($"{path} is not a .npy file.");
        int headerLength = bytes[6] == 1 ? BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8))
            : (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8));
        int start = (bytes[6] == 1 ? 10 : 12) + headerLength;
        var header = Encoding.ASCII.GetString(bytes, bytes[6] == 1 ? 10 : 12, headerLength);
        if (!header.Contains("'<f4'") || header.Contains("'fortran_order': True"))
            throw new NotSupportedException("Only C-order float32 .npy files are read.");
        var shape = header[(header.IndexOf("'shape': (", StringComparison.Ordinal) + 10)..];
        var dims = shape[..shape.IndexOf(')')].Split(',',
            StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse).ToArray();
        int n = dims[0], d = dims[1];
        var rows = new float[n][];
        for (int i = 0; i < n; i++) rows[i] = MemoryMarshal.Cast<byte, float>(bytes.AsSpan(start + i * d * 4,
            d * 4)).ToArray();
        return rows;
    }

    public static void WriteIvecs(string path, int[][] rows)
    {
        using var stream = File.Create(path);
        var buffer = new byte[4];
        foreach (var row in rows)
        {
            BinaryPrimitives.WriteInt32LittleEndian(buffer, row.Length);
            stream.Write(buffer);
            stream.Write(MemoryMarshal.AsBytes(row.AsSpan()));
        }
    }

    public static int[][] ReadIvecs(string path) =>
        ReadVecs(path).Select(r => MemoryMarshal.Cast<float, int>(r.AsSpan()).ToArray()).ToArray();

    /// <summary>Deterministic clustered Gaussian vectors (like ../shared/bench/make_fvecs.py, not
    /// byte-identical).</summary>
    public static float[][] Synthetic(int n, int d, int seed)
    {
        var rng = new Random(seed);
        double Gaussian() => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        var centres = Enumerable.Range(0, 100).Select(_ => Enumerable.Range(0, d).Select(_ =>
            (float)Gaussian()).ToArray()).ToArray();
        return Enumerable.Range(0, n).Select(_ =>
        {
            var c = centres[rng.Next(centres.Length)];
            return c.Select(x => x + (float)(0.5 * Gaussian())).ToArray();
        }).ToArray();
    }
}
