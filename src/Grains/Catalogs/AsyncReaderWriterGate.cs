namespace Catalogs.Grains.Catalogs;

/// <summary>
/// An async reader-writer gate for a reentrant grain: requests that use the catalog's configuration (writes,
/// reads, searches) enter shared and interleave; configuration changes and deletes enter exclusive and wait until
/// every shared holder has left. A waiting exclusive request holds back new shared ones, so a steady stream of
/// searches cannot starve a configuration change. Never enter it twice on one call path: a nested shared entry
/// behind a waiting exclusive one would wait forever.
/// </summary>
public sealed class AsyncReaderWriterGate
{
    readonly Lock sync = new();
    readonly LinkedList<TaskCompletionSource<Releaser>> sharedWaiters = new();
    readonly LinkedList<TaskCompletionSource<Releaser>> exclusiveWaiters = new();
    int shared;
    bool exclusive;

    public Task<Releaser> EnterSharedAsync(CancellationToken cancellationToken) => Enter(isExclusive: false,
        cancellationToken);

    public Task<Releaser> EnterExclusiveAsync(CancellationToken cancellationToken) => Enter(isExclusive: true,
        cancellationToken);

    Task<Releaser> Enter(bool isExclusive, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        TaskCompletionSource<Releaser> waiter;
        LinkedListNode<TaskCompletionSource<Releaser>> node;
        lock (sync)
        {
            if (isExclusive ? !exclusive && shared == 0 : !exclusive && exclusiveWaiters.Count == 0)
            {
                if (isExclusive) exclusive = true;
                else shared++;
                return Task.FromResult(new Releaser(this, isExclusive));
            }
            waiter = new TaskCompletionSource<Releaser>(TaskCreationOptions.RunContinuationsAsynchronously);
            node = (isExclusive ? exclusiveWaiters : sharedWaiters).AddLast(waiter);
        }
        if (cancellationToken.CanBeCanceled)
        {
            var registration = cancellationToken.Register(() =>
            {
                bool removed;
                lock (sync)
                {
                    removed = node.List is not null;
                    if (removed) node.List!.Remove(node);
                    if (removed && isExclusive) WakeLocked(); // shared requests held back by this one may go
                }
                if (removed) waiter.TrySetCanceled(cancellationToken);
            });
            waiter.Task.ContinueWith(_ => registration.Dispose(), TaskScheduler.Default);
        }
        return waiter.Task;
    }

    void Exit(bool wasExclusive)
    {
        lock (sync)
        {
            if (wasExclusive) exclusive = false;
            else shared--;
            WakeLocked();
        }
    }

    /// <summary>Lets the next holders in: one exclusive waiter once nobody holds the gate, else every shared waiter
    /// while no exclusive one waits.</summary>
    void WakeLocked()
    {
        if (exclusive) return;
        if (exclusiveWaiters.First is { } next)
        {
            if (shared > 0) return;
            exclusiveWaiters.RemoveFirst();
            exclusive = true;
            next.Value.TrySetResult(new Releaser(this, true));
            return;
        }
        while (sharedWaiters.First is { } reader)
        {
            sharedWaiters.RemoveFirst();
            shared++;
            reader.Value.TrySetResult(new Releaser(this, false));
        }
    }

    /// <summary>Leaves the gate when disposed.</summary>
    public readonly struct Releaser(AsyncReaderWriterGate gate, bool exclusive) : IDisposable
    {
        public void Dispose() => gate.Exit(exclusive);
    }
}
