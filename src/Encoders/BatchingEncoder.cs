using System.Threading.Channels;
using Catalogs.Imaging;

namespace Catalogs.Encoders;

/// <summary>
/// Coalesces concurrent encode requests into batches for one <see cref="OnnxEncoder"/>. Decoding and resizing run on
/// the thread pool in parallel with inference, which runs on its own long-running thread: callers (grains included)
/// only await, never block. A batch closes when full or when its first request has waited <see cref="BatchingOptions.Wait"/>.
/// </summary>
public sealed class BatchingEncoder : IAsyncDisposable
{
    readonly OnnxEncoder encoder;
    readonly BatchingOptions options;
    readonly Channel<Pending> queue = Channel.CreateUnbounded<Pending>(new() { SingleReader = true });
    readonly Task loop;
    long batches, images;

    public BatchingEncoder(OnnxEncoder encoder, BatchingOptions? options = null)
    {
        this.encoder = encoder;
        this.options = options ?? new BatchingOptions();
        loop = Task.Factory.StartNew(RunLoop, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
    }

    public int Dimensions => encoder.Dimensions;
    public EncoderOptions Options => encoder.Options;
    /// <summary>Mean images per inference call so far (how well batching works under the current load).</summary>
    public double MeanBatchSize => batches == 0 ? 0 : (double)Interlocked.Read(ref images) / Interlocked.Read(ref batches);

    /// <summary>Encodes one image. Throws <see cref="ImageRejectedException"/> for images the pipeline refuses.</summary>
    public async Task<float[]> EncodeAsync(ReadOnlyMemory<byte> image, ImageLimits? limits = null, CancellationToken cancellationToken = default)
    {
        var tensor = new float[encoder.Options.Preprocess.TensorLength];
        await Task.Run(() => ImagePreprocessor.Preprocess(image.Span, encoder.Options.Preprocess, tensor, limits), cancellationToken).ConfigureAwait(false);
        return await EncodeTensorAsync(tensor, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Encodes an already preprocessed tensor (batched with the other requests).</summary>
    public Task<float[]> EncodeTensorAsync(float[] tensor, CancellationToken cancellationToken = default)
    {
        var done = new TaskCompletionSource<float[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!queue.Writer.TryWrite(new Pending(tensor, done))) throw new ObjectDisposedException(nameof(BatchingEncoder));
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
                using var timeout = new CancellationTokenSource(left > TimeSpan.Zero ? left : TimeSpan.FromMilliseconds(1));
                try
                {
                    if (!await queue.Reader.WaitToReadAsync(timeout.Token).ConfigureAwait(false)) break;
                }
                catch (OperationCanceledException) { break; }
            }
            if (batch.Count == 0) continue;
            try
            {
                for (int i = 0; i < batch.Count; i++) batch[i].Tensor.CopyTo(buffer, i * length);
                var results = encoder.Run(buffer, batch.Count);
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

    sealed record Pending(float[] Tensor, TaskCompletionSource<float[]> Done);
}
