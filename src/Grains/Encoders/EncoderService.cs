using System.Collections.Concurrent;
using Catalogs.Encoders;
using Catalogs.Imaging;
using Catalogs.Training;
using Microsoft.Extensions.Options;

namespace Catalogs.Grains.Encoders;

/// <summary>
/// The silo's encoders: resolves encoder drafts against their models and encodes images, one shared batching
/// session per distinct configuration. Everything heavy runs on the thread pool; callers only await.
/// </summary>
public sealed class EncoderService(ModelResolver models, EncoderRegistry registry, IOptions<CatalogsOptions> options)
    : IAsyncDisposable
{
    /// <summary>The shorter side scaled to inputSize / 0.875, then the centre square: on the shared datasets as
    /// good as or better than scaling the shorter side to inputSize (docs/quality.md).</summary>
    public const float DefaultCropFraction = 0.875f;
    static readonly float[] ImageNetMean = [0.485f, 0.456f, 0.406f], ImageNetStd = [0.229f, 0.224f, 0.225f];
    readonly ConcurrentDictionary<string, Lazy<Task<OnnxGraph>>> graphs = new();
    // Model name → resolved path, so encoding does not probe the model folders on every request.
    readonly ConcurrentDictionary<string, Task<string>> paths = new();
    readonly ImageLimits limits = new(options.Value.MaxImagePixels);
    // Heads by hash: immutable, so cached for the process's life once loaded.
    readonly ConcurrentDictionary<string, Task<LinearHead?>> heads = new();

    public async Task<EncoderDescription> DescribeAsync(EncoderDraft draft, Func<string, Task<byte[]?>> headBytes,
        CancellationToken cancellationToken)
    {
        var model = draft.Model;
        if (string.IsNullOrWhiteSpace(model)) throw Invalid("encoder.model is required.");
        if (!ModelResolver.IsValidName(model))
            throw Invalid($"encoder.model '{model}' is not a model file name (letters, digits, '.', '_', '-', ending " +
            $"in .onnx).");
        if (!models.IsKnown(model))
            throw Invalid($"Model '{model}' is not available: it is in no model folder and has no download address.");
        var path = await PathAsync(model);
        var graph = await GraphAsync(path);
        var inputs = string.Join(", ", graph.Inputs);
        var input = draft.Input ?? (graph.Inputs.Count == 1
            ? graph.Inputs[0]
            : throw Invalid($"The model has several inputs ({inputs}): name one in encoder.input."));
        if (!graph.Inputs.Contains(input)) throw Invalid($"The model has no input '{input}'; its inputs are {inputs}.");
        var output = draft.Output ?? graph.Outputs[0];
        if (!graph.ProducedBy.ContainsKey(output))
            throw Invalid($"The model has no tensor '{output}'. Its outputs are {string.Join(", ", graph.Outputs)}; " +
                "any intermediate tensor name is accepted too.");
        var probe = new EncoderOptions(path, input, output, PreprocessOptions.ImageNet(), Pooling.None, false, false);
        bool canDequantize = graph.HasInitializer(probe.ScaleName) && graph.HasInitializer(probe.ZeroPointName);
        if (draft.Dequantize == true && !canDequantize)
            throw Invalid($"encoder.dequantize is set but the model has no " +
            $"'{probe.ScaleName}'/'{probe.ZeroPointName}' initializers.");
        var spec = new EncoderSpec(
            model, input, output,
            draft.InputSize ?? 224,
            draft.Resize ?? EncoderResize.ShorterSideCenterCrop,
            draft.Mean ?? ImageNetMean,
            draft.Std ?? ImageNetStd,
            draft.ChannelOrder ?? EncoderChannelOrder.Rgb,
            draft.Pooling ?? EncoderPooling.GlobalAverage,
            draft.Dequantize ?? canDequantize,
            draft.Normalize ?? true,
            // The measured better crop (docs/quality.md); stretching keeps the whole image.
            draft.CropFraction ?? (draft.Resize == EncoderResize.Stretch ? 1f : DefaultCropFraction),
            draft.Head);
        Validate(spec);
        try
        {
            var encoder = await registry.GetAsync(ToOptions(spec, path));
            if (spec.Head is null) return new EncoderDescription(spec, encoder.Dimensions);
            var head = await HeadAsync(spec.Head, headBytes)
                ?? throw Invalid($"encoder.head '{spec.Head}' is no head of this cluster (a training's result).");
            if (head.InputDimensions != encoder.Dimensions)
                throw Invalid($"encoder.head takes {head.InputDimensions}-dimensional embeddings; this encoder " +
                    $"produces {encoder.Dimensions}.");
            return new EncoderDescription(spec, head.OutputDimensions);
        }
        catch (Exception ex) when (ex is EncoderConfigException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
        {
            throw Invalid($"The encoder cannot run: {ex.Message}");
        }
    }

    /// <summary>Embeds images (through the spec's head, when it has one); refused images raise <see
    /// cref="CatalogRequestException"/> naming the image.</summary>
    public async Task<float[][]> EncodeAsync(EncoderSpec spec, byte[][] images, Func<string, Task<byte[]?>> headBytes,
        CancellationToken cancellationToken)
    {
        var encoder = await registry.GetAsync(ToOptions(spec, await PathAsync(spec.Model)));
        var head = spec.Head is null ? null : await HeadAsync(spec.Head, headBytes)
            ?? throw CatalogRequestException.Unavailable($"The encoder's head {spec.Head} cannot be read.");
        var vectors = await PerImageAsync(images.Select(image => encoder.EncodeAsync(image, limits,
            cancellationToken)).ToArray());
        return head is null ? vectors : vectors.Select(v => head.Apply(v)).ToArray();
    }

    /// <summary>The results of one task per image; an image refused raises <see cref="CatalogRequestException"/>
    /// naming it (by its index when there are several).</summary>
    static async Task<T[]> PerImageAsync<T>(Task<T>[] tasks)
    {
        try
        {
            return await Task.WhenAll(tasks);
        }
        catch (ImageRejectedException)
        {
            var index = Array.FindIndex(tasks, t => t.IsFaulted);
            throw Refused((ImageRejectedException)tasks[index].Exception!.InnerException!,
                tasks.Length > 1 ? $"Image {index}: " : "");
        }
    }

    /// <summary>Embeds product images and describes their colours (a second, small decode of each, in
    /// parallel).</summary>
    public async Task<ProductEncoding[]> EncodeProductsAsync(EncoderSpec spec, byte[][] images,
        Func<string, Task<byte[]?>> headBytes, CancellationToken cancellationToken)
    {
        var colors = DescribeColorsAsync(images, cancellationToken);
        var vectors = await EncodeAsync(spec, images, headBytes, cancellationToken);
        return vectors.Zip(await colors, (v, c) => new ProductEncoding(v, c)).ToArray();
    }

    /// <summary>The colours of images; a refused image raises <see cref="CatalogRequestException"/> naming
    /// it.</summary>
    public Task<ProductColor[]> DescribeColorsAsync(byte[][] images, CancellationToken cancellationToken) =>
        PerImageAsync(images.Select(image => Task.Run(() =>
        {
            var histogram = ColorDescriptor.Compute(image, limits);
            return new ProductColor(ColorDescriptor.Token(ColorDescriptor.Dominant(histogram)), histogram);
        }, cancellationToken)).ToArray());

    /// <summary>Embeds one box of an image: the box cut out (on the thread pool), then encoded like any
    /// image.</summary>
    public async Task<float[]> EncodeRegionAsync(EncoderSpec spec, byte[] image, ImageRegion region,
        Func<string, Task<byte[]?>> headBytes, CancellationToken cancellationToken)
    {
        byte[] cut;
        try
        {
            cut = await Task.Run(() => ImagePreprocessor.CropToPng(image, region.X, region.Y, region.Width,
                region.Height, limits), cancellationToken);
        }
        catch (ImageRejectedException rejected)
        {
            throw Refused(rejected, "");
        }
        return (await EncodeAsync(spec, [cut], headBytes, cancellationToken))[0];
    }

    static CatalogRequestException Refused(ImageRejectedException rejected, string where) => new(rejected.Reason switch
    {
        ImageRejection.UnsupportedFormat => CatalogError.UnsupportedMedia,
        ImageRejection.TooManyPixels => CatalogError.TooLarge,
        _ => CatalogError.Invalid,
    }, where + rejected.Message);

    Task<string> PathAsync(string model)
    {
        var task = paths.GetOrAdd(model, m => models.ResolveAsync(m));
        // A failed resolution (e.g. a download that did not verify) is retried on the next call, not cached.
        task.ContinueWith(_ => paths.TryRemove(KeyValuePair.Create(model, task)), CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        return task;
    }

    /// <summary>A head by its hash, loaded once; null when none has it (not cached, so a head stored later is
    /// found).</summary>
    Task<LinearHead?> HeadAsync(string hash, Func<string, Task<byte[]?>> headBytes)
    {
        if (hash.Length != 64 || !hash.All(char.IsAsciiHexDigitLower))
            throw Invalid($"encoder.head '{hash}' is not a head's SHA-256 (64 lower-case hex digits).");
        var task = heads.GetOrAdd(hash, async h =>
            await headBytes(h) is { } bytes ? LinearHead.FromBytes(bytes) : null);
        task.ContinueWith(t =>
        {
            if (t.IsFaulted || t.Result is null) heads.TryRemove(KeyValuePair.Create(hash, task));
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return task;
    }

    Task<OnnxGraph> GraphAsync(string path) =>
        graphs.GetOrAdd(path, p => new Lazy<Task<OnnxGraph>>(() => Task.Run(() =>
            new OnnxGraph(File.ReadAllBytes(p))))).Value;

    static void Validate(EncoderSpec spec)
    {
        if (spec.InputSize is < 16 or > 2048) throw Invalid("encoder.inputSize must be between 16 and 2048 pixels.");
        if (!(spec.CropFraction is >= 0.5f and <= 1f))
            throw Invalid("encoder.cropFraction must be between 0.5 and 1 (0.875: the shorter side scaled to " +
                "inputSize / 0.875, then the centre inputSize square, as ImageNet evaluation does).");
        if (spec.CropFraction != 1f && spec.Resize == EncoderResize.Stretch)
            throw Invalid("encoder.cropFraction applies to resize shorterSideCenterCrop, not stretch.");
        if (!Enum.IsDefined(spec.Resize))
            throw Invalid($"encoder.resize must be one of {SpecEnumConverter<EncoderResize>.Accepted}.");
        if (!Enum.IsDefined(spec.ChannelOrder))
            throw Invalid($"encoder.channelOrder must be one of {SpecEnumConverter<EncoderChannelOrder>.Accepted}.");
        if (!Enum.IsDefined(spec.Pooling))
            throw Invalid($"encoder.pooling must be one of {SpecEnumConverter<EncoderPooling>.Accepted}.");
        if (spec.Mean.Length != 3 || spec.Mean.Any(m => !float.IsFinite(m)))
            throw Invalid("encoder.mean must hold 3 finite numbers.");
        if (spec.Std.Length != 3 || spec.Std.Any(s => !float.IsFinite(s) || s <= 0))
            throw Invalid("encoder.std must hold 3 positive numbers.");
    }

    static EncoderOptions ToOptions(EncoderSpec spec, string path) => new(
        path, spec.Input, spec.Output,
        new PreprocessOptions(spec.InputSize, spec.InputSize,
            spec.Resize == EncoderResize.Stretch ? ResizeMode.Stretch : ResizeMode.ShorterSideCenterCrop,
            spec.ChannelOrder == EncoderChannelOrder.Bgr ? ChannelOrder.Bgr : ChannelOrder.Rgb,
            spec.Mean, spec.Std, CropFraction: spec.CropFraction),
        spec.Pooling == EncoderPooling.GlobalAverage ? Pooling.GlobalAverage : Pooling.None,
        spec.Dequantize, spec.Normalize);

    static CatalogRequestException Invalid(string message) => CatalogRequestException.Invalid(message);

    public ValueTask DisposeAsync() => registry.DisposeAsync();
}
