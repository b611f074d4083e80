using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Security.Cryptography;

namespace Catalogs.Training;

/// <summary>
/// A feature layer on top of a backbone's embedding: <c>y = W (x − mean) + bias</c>, then scaled to unit length.
/// One matrix-vector product per image (a row dot product each, vectorised by TensorPrimitives), so a tuned encoder
/// costs the backbone's run and microseconds more. Every head the trainers make is one of these: PCA-whitening and
/// LDA fold their projection into <c>W</c>; the trained feature layer is <c>W</c> and <c>bias</c>.
/// </summary>
public sealed class LinearHead
{
    static ReadOnlySpan<byte> Magic => "CHD1"u8;

    public LinearHead(int inputDimensions, int outputDimensions, float[] mean, float[] weights, float[] bias)
    {
        if (inputDimensions < 1 || outputDimensions < 1)
            throw new ArgumentOutOfRangeException(nameof(outputDimensions), "A head maps at least one dimension.");
        if (mean.Length != inputDimensions || weights.Length != inputDimensions * outputDimensions
            || bias.Length != outputDimensions)
            throw new ArgumentException("The mean, weights and bias do not fit the head's dimensions.");
        (InputDimensions, OutputDimensions, Mean, Weights, Bias) =
            (inputDimensions, outputDimensions, mean, weights, bias);
    }

    public int InputDimensions { get; }
    public int OutputDimensions { get; }
    /// <summary>Subtracted from the input first: the training examples' mean.</summary>
    public float[] Mean { get; }
    /// <summary>Row-major, one row of <see cref="InputDimensions"/> per output dimension.</summary>
    public float[] Weights { get; }
    public float[] Bias { get; }

    /// <summary>Maps one embedding; the result has unit length (or is all zeros when the projection is).</summary>
    public float[] Apply(ReadOnlySpan<float> input)
    {
        var output = new float[OutputDimensions];
        Apply(input, output, new float[InputDimensions]);
        return output;
    }

    /// <summary>Maps one embedding into <paramref name="output"/>; <paramref name="centred"/> is scratch of the
    /// input's length.</summary>
    public void Apply(ReadOnlySpan<float> input, Span<float> output, Span<float> centred)
    {
        if (input.Length != InputDimensions)
            throw new ArgumentException($"The head takes {InputDimensions} dimensions, not {input.Length}.");
        TensorPrimitives.Subtract(input, Mean, centred);
        var weights = Weights.AsSpan();
        for (int o = 0; o < OutputDimensions; o++)
            output[o] = TensorPrimitives.Dot(weights.Slice(o * InputDimensions, InputDimensions), centred) + Bias[o];
        float norm = TensorPrimitives.Norm(output);
        if (norm > 0) TensorPrimitives.Divide(output, norm, output);
    }

    public byte[] ToBytes()
    {
        int floats = Mean.Length + Weights.Length + Bias.Length;
        var bytes = new byte[Magic.Length + 8 + floats * sizeof(float)];
        Magic.CopyTo(bytes);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(4), InputDimensions);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(8), OutputDimensions);
        int offset = 12;
        foreach (var part in new[] { Mean, Weights, Bias })
            foreach (var value in part)
            {
                BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(offset), value);
                offset += sizeof(float);
            }
        return bytes;
    }

    /// <summary>Reads <see cref="ToBytes"/>' format; anything else is refused with <see cref="FormatException"/>.
    /// </summary>
    public static LinearHead FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < 12 || !bytes[..4].SequenceEqual(Magic))
            throw new FormatException("Not a head (its header is missing).");
        int input = BinaryPrimitives.ReadInt32LittleEndian(bytes[4..]);
        int output = BinaryPrimitives.ReadInt32LittleEndian(bytes[8..]);
        if (input is < 1 or > 1 << 16 || output is < 1 or > 1 << 16
            || bytes.Length != 12 + ((long)input + (long)input * output + output) * sizeof(float))
            throw new FormatException("The head's dimensions do not match its length.");
        int offset = 12;
        var mean = Read(bytes, ref offset, input);
        var weights = Read(bytes, ref offset, input * output);
        return new LinearHead(input, output, mean, weights, Read(bytes, ref offset, output));
    }

    static float[] Read(ReadOnlySpan<byte> bytes, ref int offset, int count)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++, offset += sizeof(float))
            values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[offset..]);
        return values;
    }

    /// <summary>The head's content hash (hex SHA-256 of <see cref="ToBytes"/>): its version's name.</summary>
    public string Hash() => Convert.ToHexStringLower(SHA256.HashData(ToBytes()));
}
