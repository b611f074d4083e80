using System.Numerics.Tensors;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Catalogs.Encoders;

/// <summary>
/// One ONNX Runtime session for one encoder configuration. <see cref="Run"/> takes a batch of preprocessed image
/// tensors and returns one embedding per image: the configured tensor, dequantized, pooled and normalised.
/// Thread-safe (ONNX Runtime sessions accept concurrent runs), but meant to be fed by <see cref="BatchingEncoder"/>.
/// </summary>
public sealed class OnnxEncoder : IDisposable
{
    readonly InferenceSession session;
    readonly double scale, zeroPoint;

    public EncoderOptions Options { get; }
    /// <summary>Length of the embeddings this encoder produces (found by running one blank image at load).</summary>
    public int Dimensions { get; }

    public OnnxEncoder(EncoderOptions options, int inferenceThreads = 0)
    {
        Options = options;
        var graph = new OnnxGraph(File.ReadAllBytes(options.ModelPath));
        if (!graph.Inputs.Contains(options.Input))
            throw new EncoderConfigException(
                $"The model has no input '{options.Input}'; its inputs are: {string.Join(", ", graph.Inputs)}.");
        if (!graph.ProducedBy.ContainsKey(options.Output))
            throw new EncoderConfigException(
                $"The model has no tensor '{options.Output}' (outputs: {string.Join(", ", graph.Outputs)}).");
        if (options.Dequantize)
        {
            if (!graph.HasInitializer(options.ScaleName) || !graph.HasInitializer(options.ZeroPointName))
                throw new EncoderConfigException($"Dequantizing '{options.Output}' needs initializers " +
                    $"'{options.ScaleName}' and '{options.ZeroPointName}', which the model lacks.");
            scale = graph.ReadInitializer(options.ScaleName)[0];
            zeroPoint = graph.ReadInitializer(options.ZeroPointName)[0];
        }
        var so = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = inferenceThreads > 0 ? inferenceThreads : Environment.ProcessorCount,
        };
        // Idle inference threads must not spin: image decoding shares these cores and would starve.
        so.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        // On x86-64 without VNNI (AVX2, AVX-512F) ONNX Runtime's fast u8×s8 kernels sum pairs of products into
        // saturating 16-bit lanes, so an int8 model's embeddings would depend on the CPU that computed them (cosine
        // 0.89 against an exact runtime on a dress photo, on an AVX2 EPYC). Vectors stored by one silo are compared
        // with queries embedded on another: take the exact u8×u8 path wherever it differs (9–16 % slower on that
        // EPYC, docs/benchmarks.md; VNNI CPUs are exact anyway and keep their kernels).
        so.AddSessionConfigEntry("session.x64quantprecision", "1");
        session = new InferenceSession(graph.WithOutputs([options.Output]), so);
        Dimensions = Run(new float[options.Preprocess.TensorLength], 1)[0].Length;
    }

    /// <summary>Encodes <paramref name="count"/> images laid out back to back in <paramref name="batch"/>.</summary>
    public float[][] Run(float[] batch, int count)
    {
        var p = Options.Preprocess;
        var input = new DenseTensor<float>(batch.AsMemory(0, count * p.TensorLength), [count, 3, p.Height, p.Width]);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(Options.Input, input)], [Options.Output]);
        var value = results[0];
        var embeddings = new float[count][];
        switch (value.ElementType)
        {
            case TensorElementType.Float:
                Postprocess(value.AsTensor<float>(), x => x, embeddings);
                break;
            case TensorElementType.UInt8:
                Postprocess(value.AsTensor<byte>(), q => Options.Dequantize ? (float)((q - zeroPoint) * scale) : q,
                    embeddings);
                break;
            case TensorElementType.Int8:
                Postprocess(value.AsTensor<sbyte>(), q => Options.Dequantize ? (float)((q - zeroPoint) * scale) : q,
                    embeddings);
                break;
            default:
                throw new EncoderConfigException($"Tensor '{Options.Output}' has element type {value.ElementType}; " +
                    $"float, uint8 and int8 are supported.");
        }
        return embeddings;
    }

    void Postprocess<T>(Microsoft.ML.OnnxRuntime.Tensors.Tensor<T> tensor, Func<T, float> toFloat, float[][] embeddings)
    {
        var dims = tensor.Dimensions.ToArray();
        int n = dims[0];
        int perItem = (int)(tensor.Length / n);
        int spatial = Options.Pooling == Pooling.GlobalAverage && dims.Length == 4 ? dims[2] * dims[3] : 1;
        int length = perItem / spatial;
        var flat = tensor is DenseTensor<T> dense ? dense.Buffer : tensor.ToArray();
        var span = flat.Span;
        for (int item = 0; item < n; item++)
        {
            var e = new float[length];
            int baseIndex = item * perItem;
            for (int c = 0; c < length; c++)
            {
                float sum = 0;
                for (int s = 0; s < spatial; s++) sum += toFloat(span[baseIndex + c * spatial + s]);
                e[c] = sum / spatial;
            }
            if (Options.Normalize)
            {
                float norm = TensorPrimitives.Norm(e);
                if (norm > 0) TensorPrimitives.Divide(e, norm, e);
            }
            embeddings[item] = e;
        }
    }

    public void Dispose() => session.Dispose();
}

/// <summary>An encoder configuration that does not fit its model.</summary>
public sealed class EncoderConfigException(string message) : Exception(message);
