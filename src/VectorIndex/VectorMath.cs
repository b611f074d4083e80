using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Catalogs.VectorIndex;

/// <summary>SIMD distance kernels. Dot products use TensorPrimitives; L2² and L1 are hand-vectorised so they
/// need no temporary buffer (TensorPrimitives has no fused squared-distance or L1 kernel).</summary>
public static class VectorMath
{
    public static float Distance(DistanceMetric metric, ReadOnlySpan<float> a, ReadOnlySpan<float> b) => metric switch
    {
        DistanceMetric.Cosine => 1f - TensorPrimitives.Dot(a, b),
        DistanceMetric.DotProduct => -TensorPrimitives.Dot(a, b),
        DistanceMetric.SquaredL2 => SquaredL2(a, b),
        DistanceMetric.L1 => L1(a, b),
        _ => throw new ArgumentOutOfRangeException(nameof(metric)),
    };

    /// <summary><see cref="Distance(DistanceMetric, ReadOnlySpan{float}, ReadOnlySpan{float})"/> for vectors kept as
    /// given: cosine scales the dot product by <paramref name="inverseNorms"/>, the product of 1/‖v‖ of the vectors
    /// not of unit length (see <see cref="InverseNorm"/>); the other metrics ignore it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Distance(DistanceMetric metric, ReadOnlySpan<float> a, ReadOnlySpan<float> b,
        float inverseNorms) => metric == DistanceMetric.Cosine
        ? 1f - TensorPrimitives.Dot(a, b) * inverseNorms
        : Distance(metric, a, b);

    /// <summary>1/‖v‖ when <paramref name="metric"/> compares directions (cosine), else 1; 0 for a zero vector,
    /// which is then as far from everything as can be.</summary>
    public static float InverseNorm(DistanceMetric metric, ReadOnlySpan<float> vector)
    {
        float norm = metric == DistanceMetric.Cosine ? TensorPrimitives.Norm(vector) : 1f;
        return norm > 0 ? 1f / norm : 0f;
    }

    public static float SquaredL2(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException("Vectors differ in length.");
        ref float pa = ref MemoryMarshal.GetReference(a);
        ref float pb = ref MemoryMarshal.GetReference(b);
        int i = 0, n = a.Length;
        float sum = 0;
        if (Vector512.IsHardwareAccelerated && n >= Vector512<float>.Count)
        {
            // Four independent accumulators: one FMA chain waits on its own latency (69 → 41 ns at 1280 dimensions
            // here).
            Vector512<float> acc0 = Vector512<float>.Zero, acc1 = acc0, acc2 = acc0, acc3 = acc0;
            for (; i <= n - 4 * Vector512<float>.Count; i += 4 * Vector512<float>.Count)
            {
                var d0 = Vector512.LoadUnsafe(ref pa, (nuint)i) - Vector512.LoadUnsafe(ref pb, (nuint)i);
                var d1 = Vector512.LoadUnsafe(ref pa, (nuint)(i + 16)) - Vector512.LoadUnsafe(ref pb, (nuint)(i + 16));
                var d2 = Vector512.LoadUnsafe(ref pa, (nuint)(i + 32)) - Vector512.LoadUnsafe(ref pb, (nuint)(i + 32));
                var d3 = Vector512.LoadUnsafe(ref pa, (nuint)(i + 48)) - Vector512.LoadUnsafe(ref pb, (nuint)(i + 48));
                acc0 = Vector512.FusedMultiplyAdd(d0, d0, acc0);
                acc1 = Vector512.FusedMultiplyAdd(d1, d1, acc1);
                acc2 = Vector512.FusedMultiplyAdd(d2, d2, acc2);
                acc3 = Vector512.FusedMultiplyAdd(d3, d3, acc3);
            }
            for (; i <= n - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var d = Vector512.LoadUnsafe(ref pa, (nuint)i) - Vector512.LoadUnsafe(ref pb, (nuint)i);
                acc0 = Vector512.FusedMultiplyAdd(d, d, acc0);
            }
            sum = Vector512.Sum((acc0 + acc1) + (acc2 + acc3));
        }
        else if (Vector256.IsHardwareAccelerated && n >= Vector256<float>.Count)
        {
            var acc = Vector256<float>.Zero;
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var d = Vector256.LoadUnsafe(ref pa, (nuint)i) - Vector256.LoadUnsafe(ref pb, (nuint)i);
                acc = Vector256.FusedMultiplyAdd(d, d, acc);
            }
            sum = Vector256.Sum(acc);
        }
        for (; i < n; i++)
        {
            float d = Unsafe.Add(ref pa, i) - Unsafe.Add(ref pb, i);
            sum += d * d;
        }
        return sum;
    }

    public static float L1(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException("Vectors differ in length.");
        ref float pa = ref MemoryMarshal.GetReference(a);
        ref float pb = ref MemoryMarshal.GetReference(b);
        int i = 0, n = a.Length;
        float sum = 0;
        if (Vector512.IsHardwareAccelerated && n >= Vector512<float>.Count)
        {
            Vector512<float> acc0 = Vector512<float>.Zero, acc1 = acc0;
            for (; i <= n - 2 * Vector512<float>.Count; i += 2 * Vector512<float>.Count)
            {
                acc0 += Vector512.Abs(Vector512.LoadUnsafe(ref pa, (nuint)i) - Vector512.LoadUnsafe(ref pb, (nuint)i));
                acc1 += Vector512.Abs(Vector512.LoadUnsafe(ref pa, (nuint)(i + 16)) - Vector512.LoadUnsafe(ref pb,
                    (nuint)(i + 16)));
            }
            for (; i <= n - Vector512<float>.Count; i += Vector512<float>.Count)
                acc0 += Vector512.Abs(Vector512.LoadUnsafe(ref pa, (nuint)i) - Vector512.LoadUnsafe(ref pb, (nuint)i));
            sum = Vector512.Sum(acc0 + acc1);
        }
        else if (Vector256.IsHardwareAccelerated && n >= Vector256<float>.Count)
        {
            var acc = Vector256<float>.Zero;
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
                acc += Vector256.Abs(Vector256.LoadUnsafe(ref pa, (nuint)i) - Vector256.LoadUnsafe(ref pb, (nuint)i));
            sum = Vector256.Sum(acc);
        }
        for (; i < n; i++) sum += MathF.Abs(Unsafe.Add(ref pa, i) - Unsafe.Add(ref pb, i));
        return sum;
    }

    /// <summary>Scales <paramref name="vector"/> to unit length in place; a zero vector stays zero.</summary>
    public static void NormalizeInPlace(Span<float> vector)
    {
        float norm = TensorPrimitives.Norm(vector);
        if (norm > 0) TensorPrimitives.Divide(vector, norm, vector);
    }

    /// <summary>True when every component is a finite number (no NaN, no ±Infinity).</summary>
    public static bool IsFinite(ReadOnlySpan<float> vector)
    {
        foreach (var x in vector)
            if (!float.IsFinite(x)) return false;
        return true;
    }
}
