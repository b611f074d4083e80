using System.Text;
using Catalogs.Shards.Storage;
using Catalogs.Storage;

namespace Catalogs.Shards.Tests;

/// <summary>
/// What every shard store must do, whatever keeps the bytes: fencing by lease epochs, the log, snapshots, blobs and
/// metadata. The local-file store runs it here; a cluster store derives from it and passes the same tests.
/// </summary>
public abstract class ShardStoreContract
{
    /// <summary>A store for a new, empty shard.</summary>
    protected abstract IShardStore NewStore();

    /// <summary>Another handle to the same shard, as another process or activation would open it.</summary>
    protected abstract IShardStore Reopen(IShardStore store);

    static LogRecord Record(long sequence) => new(sequence, 1, Encoding.UTF8.GetBytes($"record {sequence}"));

    [Fact]
    public async Task Every_writer_takes_a_higher_epoch()
    {
        var store = NewStore();
        await using var first = await store.OpenWriterAsync(default);
        await using var second = await Reopen(store).OpenWriterAsync(default);
        Assert.True(second.Epoch > first.Epoch);
    }

    [Fact]
    public async Task A_writer_whose_lease_was_taken_over_writes_nothing_more_and_nothing_acknowledged_is_lost()
    {
        var store = NewStore();
        var old = await store.OpenWriterAsync(default);
        await old.AppendAsync([Record(1), Record(2)]);
        await old.WriteMetadataAsync("meta", [1]);
        await using var current = await Reopen(store).OpenWriterAsync(default);
        Assert.Equal(2, current.LastSequence);

        await Assert.ThrowsAsync<FencedException>(() => old.AppendAsync([Record(3)]));
        await Assert.ThrowsAsync<FencedException>(() => old.WriteMetadataAsync("meta", [2]));
        await Assert.ThrowsAsync<FencedException>(() => old.WriteBlobAsync("blob", s => s.WriteByte(1)));
        await Assert.ThrowsAsync<FencedException>(() => old.WriteSnapshotAsync(2, [new byte[] { 1 }]));
        await Assert.ThrowsAsync<FencedException>(() => old.DeleteMetadataAsync("meta"));
        await Assert.ThrowsAsync<FencedException>(() => old.DeleteBlobAsync("blob"));
        await Assert.ThrowsAsync<FencedException>(() => old.DestroyAsync());
        await old.DisposeAsync();

        await current.AppendAsync([Record(3)]);
        Assert.Equal([1L, 2, 3], current.ReadLog(0).Select(r => r.Sequence));
        Assert.Equal([1], current.ReadMetadata("meta"));
        Assert.Null(current.OpenBlob("blob"));
    }

    [Fact]
    public async Task The_log_survives_reopening_and_reads_from_any_sequence()
    {
        var store = NewStore();
        await using (var writer = await store.OpenWriterAsync(default))
        {
            for (long s = 1; s <= 10; s++) await writer.AppendAsync([Record(s)]);
            await writer.RollLogAsync();
            for (long s = 11; s <= 15; s++) await writer.AppendAsync([Record(s)]);
        }
        await using var reopened = await Reopen(store).OpenWriterAsync(default);
        Assert.Equal(15, reopened.LastSequence);
        Assert.Equal(Enumerable.Range(8, 8).Select(i => (long)i), reopened.ReadLog(7).Select(r => r.Sequence));
        Assert.Equal("record 12", Encoding.UTF8.GetString(reopened.ReadLog(11).First().Payload.Span));
        // Sealed segments covered by a snapshot can go; the rest stays.
        await reopened.DeleteLogThroughAsync(10);
        Assert.Equal(Enumerable.Range(11, 5).Select(i => (long)i), reopened.ReadLog(10).Select(r => r.Sequence));
    }

    [Fact]
    public async Task Snapshots_blobs_and_metadata_round_trip()
    {
        var store = NewStore();
        await using var writer = await store.OpenWriterAsync(default);
        Assert.Null(writer.ReadLatestSnapshot(_ => { }));
        await writer.WriteSnapshotAsync(5, [new byte[] { 1, 2 }, new byte[] { 3 }]);
        await writer.WriteSnapshotAsync(9, [new byte[] { 4 }]);
        var latest = writer.ReadLatestSnapshot(_ => { })!;
        Assert.Equal(9, latest.Sequence);
        Assert.Equal([4], latest.Entries.Single());

        await writer.WriteBlobAsync("graph", s => s.Write([7, 8, 9]));
        await writer.WriteBlobAsync("graph", s => s.Write([6]));
        using (var blob = writer.OpenBlob("graph")!)
        {
            var buffer = new MemoryStream();
            blob.CopyTo(buffer);
            Assert.Equal([6], buffer.ToArray());
        }

        await writer.WriteBlobAsync("images/ab/abcdef", s => s.Write([1, 2, 3]));
        Assert.NotNull(writer.OpenBlob("images/ab/abcdef"));
        await writer.DeleteBlobAsync("images/ab/abcdef");
        Assert.Null(writer.OpenBlob("images/ab/abcdef"));

        Assert.Null(store.ReadMetadata("settings"));
        await writer.WriteMetadataAsync("settings", [42]);
        Assert.Equal([42], store.ReadMetadata("settings"));
        Assert.Equal([42], Reopen(store).ReadMetadata("settings"));
        await writer.DeleteMetadataAsync("settings");
        Assert.Null(writer.ReadMetadata("settings"));
    }

    [Fact]
    public async Task Destroying_a_shard_leaves_nothing()
    {
        var store = NewStore();
        var writer = await store.OpenWriterAsync(default);
        await writer.AppendAsync([Record(1)]);
        await writer.WriteMetadataAsync("settings", [1]);
        await writer.WriteSnapshotAsync(1, [new byte[] { 1 }]);
        await writer.DestroyAsync();
        await writer.DisposeAsync();
        Assert.Null(store.ReadMetadata("settings"));
        await using var fresh = await Reopen(store).OpenWriterAsync(default);
        Assert.Equal(0, fresh.LastSequence);
        Assert.Null(fresh.ReadLatestSnapshot(_ => { }));
    }
}

public class LocalShardStoreContractTests : ShardStoreContract
{
    protected override IShardStore NewStore() =>
        new LocalShardStore(Catalogs.Tests.TestPaths.NewTempDirectory("store"));

    protected override IShardStore Reopen(IShardStore store) => new LocalShardStore(((LocalShardStore)store).Directory);
}
