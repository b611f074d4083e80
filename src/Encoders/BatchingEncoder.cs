using System.Buffers;
using System.Threading.Channels;
using Catalogs.Imaging;

namespace Catalogs.Encoders;

/// <summary>
/// Coalesces concurrent encode requests into batches for one <see cref="OnnxEncoder"/>. Decoding and resizing run on
/// the thread pool in parallel with inference, which runs on its own long-running thread: callers (grains included)
/// only await, never block. A batch closes when full or when its first request has waited <see
/// cref="BatchingOptions.Wait"/>.
/// </summary>
public sealed class BatchingEncoder : IAsyncDisposable
{
    readonly OnnxEncoder encoder;
    readonly BatchingOptions options;
    readonly Channel<Pending> queue = Channel.CreateUnbounded<Pending>(new() { SingleReader = true });
    readonly Task loop;
    readonly string model;
    long batches, images;

    public BatchingEncoder(OnnxEncoder encoder, BatchingOptions? options = null)
    {
        this.encoder = encoder;
        this.options = options ?? new BatchingOptions();
        model = Path.GetFileName(encoder.Options.ModelPath);
        loop = Task.Factory.StartNew(RunLoop, CancellationToken.None, TaskCreationOptions.LongRunning,
            TaskScheduler.Default).Unwrap();
    }

    public int Dimensions => encoder.Dimensions;
    public EncoderOptions Options => encoder.Options;
    /// <summary>Mean images per inference call so far (how well batching works under the current load).</summary>
    public double MeanBatchSize => batches == 0 ? 0
        : (double)Interlocked.Read(ref images) / Interlocked.Read(ref batches);

    /// <summary>Encodes one image. Throws <see cref="ImageRejectedException"/> for images the pipeline
    /// refuses.</summary>
    public async Task<float[]> EncodeAsync(ReadOnlyMemory<byte> image, ImageLimits? limits = null,
        CancellationToken cancellationToken = default)
    {
        // Tensors are 600 KB at 224 px: pooled, so a busy encoder does not churn the large-object heap.
        int length = encoder.Options.Preprocess.TensorLength;
        var tensor = ArrayPool<float>.Shared.Rent(length);
        try
        {
            await Task.Run(() => ImagePreprocessor.Preprocess(image.Span, encoder.Options.Preprocess, tensor.AsSpan(0,
                length), limits), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            ArrayPool<float>.Shared.Return(tensor);
            throw;
        }
        return await Enqueue(tensor, pooled: true, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Encodes an already preprocessed tensor (batched with the other requests).</summary>
    public Task<float[]> EncodeTensorAsync(float[] tensor, CancellationToken cancellationToken = default)
    {
        if (tensor.Length != encoder.Options.Preprocess.TensorLength)
            throw new ArgumentException($"The tensor holds {tensor.Length} floats; " +
                $"{encoder.Options.Preprocess.TensorLength} are needed.", nameof(tensor));
        return Enqueue(tensor, pooled: false, cancellationToken);
    }

    Task<float[]> Enqueue(float[] tensor, bool pooled, CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource<float[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!queue.Writer.TryWrite(new Pending(tensor, pooled, done)))
        {
            if (pooled) ArrayPool<float>.Shared.Return(tensor);
            throw new ObjectDisposedException(nameof(BatchingEncoder));
        }
        return done.Task.WaitAsync(cancellationToken);
    }

    async Task RunLoop()
    {
        int length = encoder.Options.Preprocess.TensorLength;
        var buffer = new float[options.MaxBatchSize * length];
        var batch = new List<Pending>(options.MaxBatchSize);
        while (await queue.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            var deadline = DateTime.UtcNow + options.Wait;
            while (batch.Count < options.MaxBatchSize)
            {
                if (queue.Reader.TryRead(out var next)) { batch.Add(next); continue; }
                var left = deadline - DateTime.UtcNow;
                if (batch.Count > 0 && left <= TimeSpan.Zero) break;
                using var timeout = new CancellationTokenSource(left > TimeSpan.Zero ? left
                    : TimeSpan.FromMilliseconds(1));
                try
                {
                    if (!await queue.Reader.WaitToReadAsync(timeout.Token).ConfigureAwait(false)) break;
                }
                catch (OperationCanceledException) { break; }
            }
            if (batch.Count == 0) continue;
            try
            {
                for (int i = 0; i < batch.Count; i++)
                {
                    batch[i].Tensor.AsSpan(0, length).CopyTo(buffer.AsSpan(i * length));
                    if (batch[i].Pooled) ArrayPool<float>.Shared.Return(batch[i].Tensor);
                }
                long started = System.Diagnostics.Stopwatch.GetTimestamp();
                var results = encoder.Run(buffer, batch.Count);
                EncoderMetrics.Inferred(model, batch.Count, System.Diagnostics.Stopwatch.GetElapsedTime(started));
                Interlocked.Increment(ref batches);
                Interlocked.Add(ref images, batch.Count);
                for (int i = 0; i < batch.Count; i++) batch[i].Done.TrySetResult(results[i]);
            }
            catch (Exception ex)
            {
                foreach (var p in batch) p.Done.TrySetException(ex);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        queue.Writer.TryComplete();
        await loop.ConfigureAwait(false);
        encoder.Dispose();
    }

    sealed record Pending(float[] Tensor, bool Pooled, TaskCompletionSource<float[]> Done);
}
