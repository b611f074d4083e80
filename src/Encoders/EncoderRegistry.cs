using System.Collections.Concurrent;

namespace Catalogs.Encoders;

/// <summary>One shared <see cref="BatchingEncoder"/> (and so one inference session) per distinct encoder
/// configuration.</summary>
public sealed class EncoderRegistry(BatchingOptions? batching = null) : IAsyncDisposable
{
    readonly ConcurrentDictionary<string, Lazy<Task<BatchingEncoder>>> encoders = new();

    /// <summary>The encoder for <paramref name="options"/>, loading the model on first use (off the caller's
    /// thread).</summary>
    public Task<BatchingEncoder> GetAsync(EncoderOptions options)
    {
        var lazy = encoders.GetOrAdd(options.Key, _ => new Lazy<Task<BatchingEncoder>>(() => Task.Run(() =>
            new BatchingEncoder(new OnnxEncoder(options, batching?.InferenceThreads ?? 0), batching))));
        var task = lazy.Value;
        // A configuration that failed to load is not cached, so a fixed model file is picked up on the next call.
        task.ContinueWith(_ => encoders.TryRemove(KeyValuePair.Create(options.Key, lazy)), CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        return task;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var lazy in encoders.Values)
            if (lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully) await lazy.Value.Result.DisposeAsync();
        encoders.Clear();
    }
}
