using Catalogs.Imaging;

namespace Catalogs.Encoders;

public enum Pooling
{
    /// <summary>Use the tensor as it is (flattened per item).</summary>
    None,
    /// <summary>Average a [N, C, H, W] tensor over H×W into C values.</summary>
    GlobalAverage,
}

/// <summary>Everything that defines an encoder; two equal option sets share one inference session.</summary>
/// <param name="ModelPath">Resolved path of the .onnx file.</param>
/// <param name="Input">Graph input that takes the NCHW image tensor.</param>
/// <param name="Output">Any tensor of the graph, output or intermediate, taken as the embedding.</param>
/// <param name="Dequantize">Turn a uint8/int8 tensor into reals with its scale and zero point.</param>
/// <param name="DequantizeScale">Initializer holding the scale; by default the output's name with
/// <c>_quantized</c> replaced by <c>_scale</c> (the QuantizeLinear convention of ONNX Runtime's quantizer).</param>
/// <param name="DequantizeZeroPoint">Initializer holding the zero point (default: <c>…_zero_point</c>).</param>
public sealed record EncoderOptions(
    string ModelPath,
    string Input,
    string Output,
    PreprocessOptions Preprocess,
    Pooling Pooling,
    bool Dequantize,
    bool Normalize,
    string? DequantizeScale = null,
    string? DequantizeZeroPoint = null)
{
    /// <summary>A stable key for sharing sessions between equal configurations.</summary>
    public string Key => string.Join('|', ModelPath, Input, Output, Preprocess.Width, Preprocess.Height,
        Preprocess.Resize, Preprocess.CropFraction, Preprocess.Order, string.Join(',', Preprocess.Mean),
        string.Join(',', Preprocess.Std), Preprocess.PixelScale, Pooling, Dequantize, Normalize, DequantizeScale,
        DequantizeZeroPoint);

    public string ScaleName => DequantizeScale ?? BaseName + "_scale";
    public string ZeroPointName => DequantizeZeroPoint ?? BaseName + "_zero_point";
    string BaseName => Output.EndsWith("_quantized", StringComparison.Ordinal) ? Output[..^"_quantized".Length]
        : Output;
}

/// <summary>Batching limits: a batch closes when it is full or when its first request has waited long enough.</summary>
public sealed record BatchingOptions(int MaxBatchSize = 32, TimeSpan? MaxWait = null, int InferenceThreads = 0)
{
    public TimeSpan Wait => MaxWait ?? TimeSpan.FromMilliseconds(2);
}
