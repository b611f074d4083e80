using System.Text;
using Catalogs.Tests;

namespace Catalogs.Storage.Tests;

public class WriteAheadLogTests
{
    static LogRecord Rec(long seq, string text) => new(seq, 1, Encoding.UTF8.GetBytes(text));

    [Fact]
    public async Task Appended_records_survive_reopening_in_order()
    {
        var dir = TestPaths.NewTempDirectory("wal");
        await using (var log = WriteAheadLog.Open(dir))
        {
            // Concurrent appends share fsyncs (group commit); sequences are assigned in call order.
            long seq = 0;
            var tasks = Enumerable.Range(0, 500).Select(i => log.AppendAsync(Rec(++seq, $"r{seq}"))).ToArray();
            await Task.WhenAll(tasks);
            Assert.Equal(500, log.LastSequence);
        }
        await using var reopened = WriteAheadLog.Open(dir);
        var records = reopened.ReadFrom(0).ToList();
        Assert.Equal(Enumerable.Range(1, 500).Select(i => (long)i), records.Select(r => r.Sequence));
        Assert.Equal("r500", Encoding.UTF8.GetString(records[^1].Payload.Span));
        Assert.Equal(Enumerable.Range(451, 50).Select(i => (long)i), reopened.ReadFrom(450).Select(r => r.Sequence));
    }

    [Fact]
    public async Task A_torn_tail_is_truncated_and_appending_continues()
    {
        var dir = TestPaths.NewTempDirectory("wal-torn");
        await using (var log = WriteAheadLog.Open(dir))
            for (int i = 1; i <= 10; i++) await log.AppendAsync(Rec(i, new string('x', 100)));
        var segment = Directory.GetFiles(dir, "wal-*.log").Single();
        using (var fs = new FileStream(segment, FileMode.Open)) fs.SetLength(fs.Length - 30); // a crash mid-write
        await using (var log = WriteAheadLog.Open(dir))
        {
            Assert.Equal(9, log.LastSequence);
            await log.AppendAsync(Rec(10, "again"));
        }
        await using var again = WriteAheadLog.Open(dir);
        var records = again.ReadFrom(0).ToList();
        Assert.Equal(10, records.Count);
        Assert.Equal("again", Encoding.UTF8.GetString(records[^1].Payload.Span));
    }

    [Fact]
    public async Task Corruption_before_the_tail_is_refused()
    {
        var dir = TestPaths.NewTempDirectory("wal-corrupt");
        await using (var log = WriteAheadLog.Open(dir))
        {
            for (int i = 1; i <= 5; i++) await log.AppendAsync(Rec(i, "first segment"));
            await log.RollAsync();
            for (int i = 6; i <= 10; i++) await log.AppendAsync(Rec(i, "second segment"));
        }
        var first = Directory.GetFiles(dir, "wal-*.log").Order().First();
        var bytes = File.ReadAllBytes(first);
        bytes[20] ^= 0xFF;
        File.WriteAllBytes(first, bytes);
        var ex = Assert.Throws<StorageCorruptException>(() => WriteAheadLog.Open(dir));
        Assert.Contains("corrupt", ex.Message);
    }

    [Fact]
    public async Task Rolling_lets_covered_segments_be_deleted()
    {
        var dir = TestPaths.NewTempDirectory("wal-roll");
        await using var log = WriteAheadLog.Open(dir);
        for (int i = 1; i <= 5; i++) await log.AppendAsync(Rec(i, "a"));
        await log.RollAsync();
        for (int i = 6; i <= 8; i++) await log.AppendAsync(Rec(i, "b"));
        Assert.Equal(0, log.DeleteSegmentsThrough(4)); // the first segment still holds 5
        Assert.Equal(1, log.DeleteSegmentsThrough(5));
        Assert.Equal([6L, 7, 8], log.ReadFrom(5).Select(r => r.Sequence));
    }

    [Fact]
    public async Task Sequences_that_do_not_grow_are_refused()
    {
        await using var log = WriteAheadLog.Open(TestPaths.NewTempDirectory("wal-seq"));
        await log.AppendAsync(Rec(1, "a"));
        await Assert.ThrowsAsync<InvalidOperationException>(() => log.AppendAsync(Rec(1, "again")));
    }
}

public class SnapshotFileTests
{
    static IEnumerable<ReadOnlyMemory<byte>> Entries(int n) => Enumerable.Range(0, n).Select(i =>
        (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes($"entry {i} " + new string('z', i)));

    [Fact]
    public async Task Round_trip_keeps_sequence_and_entries()
    {
        var dir = TestPaths.NewTempDirectory("snap");
        await SnapshotFile.WriteAsync(dir, 42, Entries(100));
        var snapshot = SnapshotFile.ReadLatest(dir)!;
        Assert.Equal(42, snapshot.Sequence);
        Assert.Equal(Entries(100).Select(e => e.ToArray()), snapshot.Entries);
    }

    [Fact]
    public async Task Damage_is_detected_and_an_older_snapshot_is_used()
    {
        var dir = TestPaths.NewTempDirectory("snap-damage");
        await SnapshotFile.WriteAsync(dir, 1, Entries(10));
        var newest = await SnapshotFile.WriteAsync(dir, 2, Entries(20));
        var bytes = File.ReadAllBytes(newest);
        bytes[bytes.Length / 2] ^= 0x01;
        File.WriteAllBytes(newest, bytes);
        Assert.Throws<StorageCorruptException>(() => SnapshotFile.Read(newest));
        var skipped = new List<string>();
        Assert.Equal(1, SnapshotFile.ReadLatest(dir, skipped.Add)!.Sequence);
        Assert.Single(skipped);
    }

    [Fact]
    public async Task Truncated_snapshot_is_refused_with_a_clear_error()
    {
        var dir = TestPaths.NewTempDirectory("snap-trunc");
        var path = await SnapshotFile.WriteAsync(dir, 7, Entries(50));
        using (var fs = new FileStream(path, FileMode.Open)) fs.SetLength(fs.Length - 5);
        var ex = Assert.Throws<StorageCorruptException>(() => SnapshotFile.Read(path));
        Assert.Contains("truncated", ex.Message);
        Assert.Throws<StorageCorruptException>(() => SnapshotFile.ReadLatest(dir)); // no fallback: never silently empty
    }

    [Fact]
    public async Task Only_the_newest_snapshots_are_kept()
    {
        var dir = TestPaths.NewTempDirectory("snap-keep");
        for (int i = 1; i <= 5; i++) await SnapshotFile.WriteAsync(dir, i, Entries(3));
        Assert.Equal(2, Directory.GetFiles(dir, "*.snap").Length);
    }
}
