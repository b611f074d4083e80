using Catalogs.Storage;
using Catalogs.Tests;

namespace Catalogs.Storage.Tests;

public class FileLeaseTests
{
    static LogRecord Record(long sequence) => new(sequence, 1, BitConverter.GetBytes(sequence));

    [Fact]
    public void Each_acquisition_takes_a_higher_epoch()
    {
        var dir = TestPaths.NewTempDirectory("lease");
        Assert.Equal(0, FileLease.CurrentEpoch(dir));
        using var first = FileLease.Acquire(dir);
        using var second = FileLease.Acquire(dir);
        Assert.Equal(1, first.Epoch);
        Assert.Equal(2, second.Epoch);
        Assert.Equal(2, FileLease.CurrentEpoch(dir));
        Assert.Throws<FencedException>(() => first.Enter());
        second.Enter().Dispose();
    }

    [Fact]
    public async Task A_log_whose_lease_was_taken_over_refuses_every_later_write_and_loses_nothing_acknowledged()
    {
        var dir = TestPaths.NewTempDirectory("fenced-log");
        var oldLease = FileLease.Acquire(dir);
        var oldLog = WriteAheadLog.Open(Path.Combine(dir, "log"), oldLease);
        var acknowledged = new List<long>();
        for (long s = 1; s <= 50; s++)
        {
            await oldLog.AppendAsync(Record(s));
            acknowledged.Add(s);
        }
        // A second writer (another activation, another process) takes the shard over.
        var newLease = FileLease.Acquire(dir);
        var newLog = WriteAheadLog.Open(Path.Combine(dir, "log"), newLease);
        Assert.Equal(50, newLog.LastSequence);

        var stale = await Assert.ThrowsAsync<FencedException>(() => oldLog.AppendAsync(Record(51)));
        Assert.Equal((1, 2), (stale.Epoch, stale.CurrentEpoch));
        await Assert.ThrowsAsync<IOException>(() => oldLog.AppendAsync(Record(52))); // and stays refused
        await Assert.ThrowsAsync<IOException>(() => oldLog.RollAsync());
        Assert.Throws<FencedException>(() => oldLog.DeleteSegmentsThrough(50));

        for (long s = 51; s <= 80; s++)
        {
            await newLog.AppendAsync(Record(s));
            acknowledged.Add(s);
        }
        await oldLog.DisposeAsync();
        await newLog.DisposeAsync();
        oldLease.Dispose();
        newLease.Dispose();
        var reopened = WriteAheadLog.Open(Path.Combine(dir, "log"));
        Assert.Equal(acknowledged, reopened.ReadFrom(0).Select(r => r.Sequence));
        await reopened.DisposeAsync();
    }

    [Fact]
    public async Task Writers_racing_a_takeover_never_both_write()
    {
        var dir = TestPaths.NewTempDirectory("lease-race");
        var leaseA = FileLease.Acquire(dir);
        var logA = WriteAheadLog.Open(Path.Combine(dir, "log"), leaseA);
        long next = 0;
        var acknowledged = new System.Collections.Concurrent.ConcurrentBag<long>();
        var writing = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    long s = Interlocked.Increment(ref next);
                    await logA.AppendAsync(Record(s));
                    acknowledged.Add(s);
                }
            }
            catch (FencedException) { }
        });
        await Task.Delay(50);
        var leaseB = FileLease.Acquire(dir); // waits for A's batch in flight, then fences A
        await writing;
        var logB = WriteAheadLog.Open(Path.Combine(dir, "log"), leaseB);
        long last = logB.LastSequence;
        await logB.AppendAsync(Record(last + 1));
        acknowledged.Add(last + 1);
        await logA.DisposeAsync();
        await logB.DisposeAsync();
        var all = WriteAheadLog.Open(Path.Combine(dir, "log"));
        var sequences = all.ReadFrom(0).Select(r => r.Sequence).ToList();
        Assert.Equal(sequences.Order(), sequences);             // one writer at a time: the log stays in order
        Assert.Subset(sequences.ToHashSet(), acknowledged.ToHashSet()); // every acknowledged write is there
        Assert.True(acknowledged.Count > 1);
        await all.DisposeAsync();
        leaseA.Dispose();
        leaseB.Dispose();
    }
}
