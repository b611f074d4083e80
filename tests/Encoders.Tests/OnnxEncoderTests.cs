using Catalogs.Imaging;
using Catalogs.Tests;

namespace Catalogs.Encoders.Tests;

public class OnnxEncoderTests
{
    static EncoderOptions Features => new(TestPaths.Model, "input", "464_quantized", PreprocessOptions.ImageNet(),
        Pooling.GlobalAverage, Dequantize: true, Normalize: true);

    [Fact]
    public void Graph_lists_the_intermediate_feature_tensor_and_its_quantization_parameters()
    {
        var graph = new OnnxGraph(File.ReadAllBytes(TestPaths.Model));
        Assert.Contains("input", graph.Inputs);
        Assert.Equal(["output"], graph.Outputs);
        Assert.True(graph.ProducedBy.ContainsKey("464_quantized"));
        Assert.Single(graph.ReadInitializer("464_scale"));
        Assert.InRange(graph.ReadInitializer("464_zero_point")[0], 0, 255);
        var edited = new OnnxGraph(graph.WithOutputs(["464_quantized"]));
        Assert.Equal(["output", "464_quantized"], edited.Outputs);
    }

    [Fact]
    public void Intermediate_tensor_yields_unit_length_1280_d_embeddings()
    {
        using var encoder = new OnnxEncoder(Features);
        Assert.Equal(1280, encoder.Dimensions);
        var tensor = new float[Features.Preprocess.TensorLength];
        ImagePreprocessor.Preprocess(File.ReadAllBytes(TestPaths.Image("clothing/images/Dress/"
            + FirstFile("clothing/images/Dress"))), Features.Preprocess, tensor);
        var e = encoder.Run(tensor, 1)[0];
        Assert.Equal(1280, e.Length);
        Assert.Equal(1.0, Math.Sqrt(e.Sum(x => (double)x * x)), 3);
    }

    static string FirstFile(string relative) =>
        Path.GetFileName(Directory.GetFiles(TestPaths.Image(relative)).Order().First());
}
