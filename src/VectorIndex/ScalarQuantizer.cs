using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Catalogs.VectorIndex;

/// <summary>How <see cref="HnswIndex"/> stores the vectors its graph walk reads.</summary>
public enum VectorQuantization : byte
{
    /// <summary>float32 beside the links: exact distances everywhere.</summary>
    None = 0,

    /// <summary>int8 codes beside the links (a quarter of the bytes a walk reads), float32 kept apart for re-ranking
    /// the candidates the walk returns.</summary>
    Int8 = 1,
}

/// <summary>
/// int8 scalar quantization with one step size for every dimension: a code is <c>round((x − mean) / step)</c>.
/// One shared step keeps squared L2 between codes proportional to squared L2 between the dequantized vectors, so
/// distances are integer dot products (<c>vpmaddwd</c>) plus two stored norms.
/// </summary>
public sealed class ScalarQuantizer
{
    public ScalarQuantizer(float[] mean, float step)
    {
        if (!(step > 0) || !float.IsFinite(step)) throw new ArgumentOutOfRangeException(nameof(step));
        Mean = mean;
        Step = step;
    }

    /// <summary>Per-dimension mean of the training vectors: codes are centred, so the 8 bits cover the
    /// spread.</summary>
    public float[] Mean { get; }

    /// <summary>The value of one code unit.</summary>
    public float Step { get; }

    public int Dimensions => Mean.Length;

    /// <summary>
    /// Mean of <paramref name="sample"/>, and a step that maps the 99.99th percentile of |x − mean| to 127: the few
    /// larger deviations are clamped (re-ranking with float32 repairs their order), the rest keep their resolution.
    /// </summary>
    public static ScalarQuantizer Train(IReadOnlyList<float[]> sample)
    {
        if (sample.Count == 0) throw new ArgumentException("Training needs at least one vector.", nameof(sample));
        int d = sample[0].Length;
        var mean = new double[d];
        foreach (var v in sample)
            for (int i = 0; i < d; i++) mean[i] += v[i];
        var m = mean.Select(x => (float)(x / sample.Count)).ToArray();
        // Deviations from a bounded subsample keep training cheap at any size.
        int stride = Math.Max(1, (int)((long)sample.Count * d / 2_000_000));
        var deviations = new List<float>();
        for (int s = 0; s < sample.Count; s += stride)
            for (int i = 0; i < d; i++) deviations.Add(MathF.Abs(sample[s][i] - m[i]));
        deviations.Sort();
        float high = deviations[Math.Min(deviations.Count - 1, (int)(deviations.Count * 0.9999))];
        if (!(high > 0)) high = deviations[^1] > 0 ? deviations[^1] : 1f;
        return new ScalarQuantizer(m, high / 127f);
    }

    /// <summary>Writes the codes of <paramref name="vector"/> and returns the sum of their squares.</summary>
    public unsafe int Encode(ReadOnlySpan<float> vector, sbyte* codes) => Encode(vector, codes, out _);

    /// <summary>Writes the codes of <paramref name="vector"/>; returns Σ code² and, in <paramref name="sum"/>, Σ
    /// code.</summary>
    public unsafe int Encode(ReadOnlySpan<float> vector, sbyte* codes, out int sum)
    {
        float inverse = 1f / Step;
        int squares = 0;
        sum = 0;
        for (int i = 0; i < vector.Length; i++)
        {
            int c = Clamp((vector[i] - Mean[i]) * inverse);
            codes[i] = (sbyte)c;
            squares += c * c;
            sum += c;
        }
        return squares;
    }

    /// <summary>The same codes shifted to unsigned (c + 128), the operand form <see cref="DotBiased"/> takes.</summary>
    public static unsafe void ToBiased(sbyte* codes, byte* biased, int n)
    {
        for (int i = 0; i < n; i++) biased[i] = (byte)(codes[i] ^ unchecked((sbyte)0x80));
    }

    /// <summary>Codes of <paramref name="vector"/> with its own step (max |x| / 127) and no centring: a dot-product
    /// query. Returns that step.</summary>
    public static unsafe float EncodeScaled(ReadOnlySpan<float> vector, sbyte* codes)
    {
        float max = 0;
        foreach (var x in vector) max = MathF.Max(max, MathF.Abs(x));
        float step = max > 0 ? max / 127f : 1f;
        float inverse = 1f / step;
        for (int i = 0; i < vector.Length; i++) codes[i] = (sbyte)Clamp(vector[i] * inverse);
        return step;
    }

    /// <summary>The dequantized vector (for tests and diagnostics).</summary>
    public unsafe float[] Decode(sbyte* codes)
    {
        var x = new float[Dimensions];
        for (int i = 0; i < x.Length; i++) x[i] = Mean[i] + codes[i] * Step;
        return x;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static int Clamp(float x) => (int)Math.Clamp(MathF.Round(x), -127f, 127f);

    /// <summary>
    /// Σ u[i]·s[i] for unsigned <paramref name="u"/> (codes + 128) and signed <paramref name="s"/>: one VNNI
    /// instruction (vpdpbusd) per 32 components. With u = a + 128 the result is a·s + 128·Σs, so the caller subtracts
    /// 128 times the stored code sum of <paramref name="s"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe int DotBiased(byte* u, sbyte* s, int n)
    {
        int i = 0, sum = 0;
        if (AvxVnni.IsSupported && n >= 32)
        {
            Vector256<int> acc0 = Vector256<int>.Zero, acc1 = Vector256<int>.Zero;
            for (; i <= n - 64; i += 64)
            {
                acc0 = AvxVnni.MultiplyWideningAndAdd(acc0, Vector256.Load(u + i), Vector256.Load(s + i));
                acc1 = AvxVnni.MultiplyWideningAndAdd(acc1, Vector256.Load(u + i + 32), Vector256.Load(s + i + 32));
            }
            if (i <= n - 32)
            {
                acc0 = AvxVnni.MultiplyWideningAndAdd(acc0, Vector256.Load(u + i), Vector256.Load(s + i));
                i += 32;
            }
            sum = Vector256.Sum(acc0 + acc1);
        }
        else if (Avx512BW.IsSupported && n >= 32)
        {
            var acc = Vector512<int>.Zero;
            for (; i <= n - 32; i += 32)
                acc += Avx512BW.MultiplyAddAdjacent(Avx512BW.ConvertToVector512Int16(Vector256.Load(u + i)).AsInt16(),
                    Avx512BW.ConvertToVector512Int16(Vector256.Load(s + i)));
            sum = Vector512.Sum(acc);
        }
        for (; i < n; i++) sum += u[i] * s[i];
        return sum;
    }

    /// <summary>Σ a[i]·b[i] over int8 codes: widened to int16 and multiplied-and-added in pairs (vpmaddwd).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe int Dot(sbyte* a, sbyte* b, int n)
    {
        int i = 0, sum = 0;
        if (Avx512BW.IsSupported && n >= 64)
        {
            Vector512<int> acc0 = Vector512<int>.Zero, acc1 = Vector512<int>.Zero;
            for (; i <= n - 64; i += 64)
            {
                acc0 += Avx512BW.MultiplyAddAdjacent(Avx512BW.ConvertToVector512Int16(Vector256.Load(a + i)),
                    Avx512BW.ConvertToVector512Int16(Vector256.Load(b + i)));
                acc1 += Avx512BW.MultiplyAddAdjacent(Avx512BW.ConvertToVector512Int16(Vector256.Load(a + i + 32)),
                    Avx512BW.ConvertToVector512Int16(Vector256.Load(b + i + 32)));
            }
            if (i <= n - 32)
            {
                acc0 += Avx512BW.MultiplyAddAdjacent(Avx512BW.ConvertToVector512Int16(Vector256.Load(a + i)),
                    Avx512BW.ConvertToVector512Int16(Vector256.Load(b + i)));
                i += 32;
            }
            sum = Vector512.Sum(acc0 + acc1);
        }
        else if (Avx2.IsSupported && n >= 16)
        {
            var acc = Vector256<int>.Zero;
            for (; i <= n - 16; i += 16)
                acc += Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(Vector128.Load(a + i)),
                    Avx2.ConvertToVector256Int16(Vector128.Load(b + i)));
            sum = Vector256.Sum(acc);
        }
        for (; i < n; i++) sum += a[i] * b[i];
        return sum;
    }
}
