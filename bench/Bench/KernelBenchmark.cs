using System.Diagnostics;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using Catalogs.VectorIndex;

namespace Catalogs.Bench;

/// <summary>
/// Distance kernels side by side on one core, data in L1 (compute, not memory): TensorPrimitives against hand-written
/// Vector512 and Vector256 loops, and the int8 dot product as AVX-VNNI (vpdpbusd) against AVX-512BW widening
/// (vpmaddwd).
/// The index uses the fastest of each.
/// </summary>
static unsafe class KernelBenchmark
{
    static bool quiet;

    public static void Run(int[] dimensions)
    {
        Console.WriteLine($"Kernels: ns per call (lower is better, best of 3), one core; Vector512 hardware: " +
            $"{Vector512.IsHardwareAccelerated}, AVX-VNNI: {System.Runtime.Intrinsics.X86.AvxVnni.IsSupported}");
        // A silent first pass: tiered compilation must have optimised every kernel and the loop around it, or the
        // first figures measure the JIT (up to 9x slow here).
        quiet = true;
        Pass(dimensions);
        quiet = false;
        Pass(dimensions);
    }

    static void Pass(int[] dimensions)
    {
        foreach (var d in dimensions)
        {
            var rng = new Random(d);
            var a = Enumerable.Range(0, d).Select(_ => (float)rng.NextDouble()).ToArray();
            var b = Enumerable.Range(0, d).Select(_ => (float)rng.NextDouble()).ToArray();
            if (!quiet) Console.WriteLine($"  d = {d}");
            Report("dot: TensorPrimitives.Dot", () => TensorPrimitives.Dot(a, b));
            Report("dot: Vector512 loop", () => Dot512(a, b));
            Report("dot: Vector256 loop", () => Dot256(a, b));
            Report("L2²: ours (Vector512, fused)", () => VectorMath.SquaredL2(a, b));
            Report("L2²: Vector256 loop", () => L2Squared256(a, b));
            Report("L2: TensorPrimitives.Distance (√)", () => TensorPrimitives.Distance(a, b));
            Report("L1: ours (Vector512)", () => VectorMath.L1(a, b));

            var codes = GC.AllocateArray<sbyte>(d, pinned: true);
            var other = GC.AllocateArray<sbyte>(d, pinned: true);
            var biased = GC.AllocateArray<byte>(d, pinned: true);
            for (int i =
                0; i < d; i++) { codes[i] = (sbyte)rng.Next(-127, 128); other[i] = (sbyte)rng.Next(-127, 128); }
            fixed (sbyte* pc = codes, po = other)
            fixed (byte* pb = biased)
            {
                ScalarQuantizer.ToBiased(pc, pb, d);
                sbyte* c = pc, o = po;
                byte* u = pb;
                Report("int8 dot: AVX-VNNI vpdpbusd (walk)", () => ScalarQuantizer.DotBiased(u, o, d));
                Report("int8 dot: AVX-512BW vpmaddwd (build)", () => ScalarQuantizer.Dot(c, o, d));
            }
        }
    }

    static void Report(string name, Func<float> kernel)
    {
        const int calls = 1_000_000;
        float sink = 0;
        double best = double.MaxValue;
        for (int repeat = 0; repeat < 3; repeat++)
        {
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < calls; i++) sink += kernel();
            best = Math.Min(best, sw.Elapsed.TotalNanoseconds / calls);
        }
        if (!quiet) Console.WriteLine($"    {name,-40} {best,7:F1} ns{(float.IsNaN(sink) ? " " : "")}");
    }

    static float Dot512(float[] a, float[] b)
    {
        var acc = Vector512<float>.Zero;
        int i = 0;
        for (; i <= a.Length - 16; i += 16) acc = Vector512.FusedMultiplyAdd(Vector512.Create(a, i), Vector512.Create(b,
            i), acc);
        float sum = Vector512.Sum(acc);
        for (; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }

    static float Dot256(float[] a, float[] b)
    {
        var acc = Vector256<float>.Zero;
        int i = 0;
        for (; i <= a.Length - 8; i += 8) acc = Vector256.FusedMultiplyAdd(Vector256.Create(a, i), Vector256.Create(b,
            i), acc);
        float sum = Vector256.Sum(acc);
        for (; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }

    static float L2Squared256(float[] a, float[] b)
    {
        var acc = Vector256<float>.Zero;
        int i = 0;
        for (; i <= a.Length - 8; i += 8)
        {
            var diff = Vector256.Create(a, i) - Vector256.Create(b, i);
            acc = Vector256.FusedMultiplyAdd(diff, diff, acc);
        }
        float sum = Vector256.Sum(acc);
        for (; i < a.Length; i++) sum += (a[i] - b[i]) * (a[i] - b[i]);
        return sum;
    }
}
