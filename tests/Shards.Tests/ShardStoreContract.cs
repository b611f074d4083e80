using System.Text;
using Catalogs.Grains;
using Catalogs.Shards.Storage;
using Catalogs.Storage;
using Catalogs.Tests;
using Microsoft.Extensions.Logging.Abstractions;

namespace Catalogs.Shards.Tests;

/// <summary>
/// What every shard store must do, whatever keeps the bytes: fencing by lease epochs, the log, snapshots, blobs and
/// metadata, and the shard engine on top of it. The local files and PostgreSQL both derive from it.
/// </summary>
public abstract class ShardStoreContract
{
    /// <summary>A store for a new, empty shard.</summary>
    protected abstract IShardStore NewStore();

    /// <summary>Another handle to the same shard, as another process or activation would open it.</summary>
    protected abstract IShardStore Reopen(IShardStore store);

    static LogRecord Record(long sequence) => new(sequence, 1, Encoding.UTF8.GetBytes($"record {sequence}"));

    static Datapoint Point(string id, float x) => new(id, [x, 1, 0.5f], [new Restrict("c", ["a"], [])], [], null, null,
        DateTimeOffset.UnixEpoch);

    static Task<LocalShard> OpenShard(IShardStore store) => LocalShard.OpenAsync(store,
        new ShardSettings(0, SimilarityMetric.Cosine, 3, IndexSpec.Default),
        new LocalShardOptions(SnapshotEveryRecords: 10, IndexSnapshotMinInterval: TimeSpan.Zero),
        NullLogger.Instance, default);

    [Fact]
    public async Task Of_two_shards_opened_on_one_store_the_older_is_refused_and_nothing_acknowledged_is_lost()
    {
        var store = NewStore();
        var older = await OpenShard(store);
        var acknowledged = new List<string>();
        for (int i = 0; i < 25; i++)
        {
            await older.UpsertAsync([Point($"a{i}", i)]);
            acknowledged.Add($"a{i}");
        }
        // Concurrent writes share a commit (group commit), and each is acknowledged. A shard takes its writes one
        // turn at a time, as its grain gives them: an exclusive scheduler gives the same turns here.
        await Task.Factory.StartNew(() => Task.WhenAll(Enumerable.Range(0, 20).Select(i =>
                older.UpsertAsync([Point($"g{i}", i)]))), CancellationToken.None, TaskCreationOptions.None,
            new ConcurrentExclusiveSchedulerPair().ExclusiveScheduler).Unwrap();
        acknowledged.AddRange(Enumerable.Range(0, 20).Select(i => $"g{i}"));
        // Another activation of the same shard (Orleans may briefly allow two) opens it and takes the lease.
        var newer = await OpenShard(Reopen(store));
        Assert.Equal(45, newer.Count);
        // Refused as fenced: at once, or as the log's earlier failure when the older one's background snapshot met
        // the fence first.
        var refused = await Assert.ThrowsAnyAsync<Exception>(() => older.UpsertAsync([Point("lost", 1)]));
        Assert.True(refused is FencedException || refused.InnerException is FencedException, refused.ToString());
        await Assert.ThrowsAsync<IOException>(() => older.RemoveAsync("a0"));
        for (int i = 0; i < 15; i++)
        {
            await newer.UpsertAsync([Point($"b{i}", i)]);
            acknowledged.Add($"b{i}");
        }
        Assert.True(await newer.RemoveAsync("a3"));
        acknowledged.Remove("a3");
        await older.DisposeAsync();
        await newer.DisposeAsync();

        await using var reopened = await OpenShard(Reopen(store));
        Assert.Equal(acknowledged.Order(), reopened.Products().Select(p => p.Id).Order());
        Assert.Null(reopened.Get("lost"));
        Assert.Equal([24f, 1, 0.5f], reopened.Get("a24")!.FeatureVector);
        var hits = await reopened.SearchAsync(new SearchQuery([24, 1, 0.5f], 1, [], [], null), default);
        Assert.Equal("a24", hits.Single().Id);
    }

    static Task<LocalShard> OpenReplica(IShardStore store) => LocalShard.OpenReplicaAsync(store,
        new LocalShardOptions(SnapshotEveryRecords: 10, IndexSnapshotMinInterval: TimeSpan.Zero), NullLogger.Instance,
        default);

    [Fact]
    public async Task A_replica_follows_the_primary_without_its_lease_and_reloads_when_the_log_moved_on()
    {
        var store = NewStore();
        await using var primary = await OpenShard(store);
        // Fewer records than a snapshot takes (10) until the sleeper below: the log keeps them all.
        for (int i = 0; i < 5; i++) await primary.UpsertAsync([Point($"a{i}", i)]);
        await using var replica = await OpenReplica(Reopen(store));
        Assert.True(replica.IsReplica);
        Assert.Equal(5, replica.Count);
        Assert.Equal(primary.LastSequence, replica.LastSequence);

        // What the primary acknowledges next, the replica applies at its next catch-up: upserts, changes, removals.
        await primary.UpsertAsync([Point("a1", 100), Point("b0", 50)]);
        Assert.True(await primary.RemoveAsync("a2"));
        Assert.Equal(5, replica.Count); // nothing until it polls
        Assert.True(await replica.CatchUpAsync(default));
        Assert.Equal(primary.LastSequence, replica.LastSequence);
        Assert.Equal(primary.Products().Select(p => p.Id).Order(), replica.Products().Select(p => p.Id).Order());
        Assert.Equal([100f, 1, 0.5f], replica.Get("a1")!.FeatureVector);
        Assert.Null(replica.Get("a2"));
        var hits = await replica.SearchAsync(new SearchQuery([50, 1, 0.5f], 1, [], [], null), default);
        Assert.Equal("b0", hits.Single().Id);

        // It holds no lease: the primary goes on writing, and a replica refuses writes.
        await Assert.ThrowsAsync<InvalidOperationException>(() => replica.UpsertAsync([Point("x", 1)]));
        await primary.UpsertAsync([Point("c0", 3)]);
        Assert.True(await replica.CatchUpAsync(default));
        Assert.NotNull(replica.Get("c0"));

        // Snapshots every 10 records delete the log they cover: a replica that slept through them cannot catch up
        // and says so; a new one loads the snapshot and the rest of the log.
        await using var sleeper = await OpenReplica(Reopen(store));
        for (int i = 0; i < 40; i++) await primary.UpsertAsync([Point($"d{i}", i)]);
        // A snapshot still under way when the 40th record lands covers fewer; the next ones come with more writes.
        int more = 0;
        Assert.True(await Eventually.HoldsAsync(async () =>
        {
            if (primary.SnapshotSequence >= 40) return true;
            await primary.UpsertAsync([Point($"e{more++}", 1)]);
            return false;
        }));
        await primary.UpsertAsync([Point("after", 9)]);
        Assert.False(await sleeper.CatchUpAsync(default));
        await using var fresh = await OpenReplica(Reopen(store));
        Assert.Equal(primary.Products().Select(p => p.Id).Order(), fresh.Products().Select(p => p.Id).Order());
        Assert.Equal(primary.LastSequence, fresh.LastSequence);
    }

    [Fact]
    public async Task A_promoted_replica_fences_the_old_primary_and_holds_every_acknowledged_write()
    {
        var store = NewStore();
        var primary = await OpenShard(store);
        for (int i = 0; i < 4; i++) await primary.UpsertAsync([Point($"a{i}", i)]);
        await using var replica = await OpenReplica(Reopen(store));
        // Acknowledged after the replica's last catch-up: the promotion must pick them up.
        await primary.UpsertAsync([Point("late", 7)]);
        Assert.True(await primary.RemoveAsync("a0"));

        Assert.True(await replica.PromoteAsync(Reopen(store), default));
        Assert.False(replica.IsReplica);
        Assert.Equal("promoted", replica.IndexOrigin);
        Assert.Equal(primary.Products().Select(p => p.Id).Order(), replica.Products().Select(p => p.Id).Order());
        await Assert.ThrowsAsync<FencedException>(() => primary.UpsertAsync([Point("lost", 1)]));
        await replica.UpsertAsync([Point("next", 2)]);
        Assert.True(await replica.RemoveAsync("a1"));
        await primary.DisposeAsync();
        await replica.DisposeAsync();

        await using var reopened = await OpenShard(Reopen(store));
        Assert.Equal(["a2", "a3", "late", "next"], reopened.Products().Select(p => p.Id).Order());
        Assert.Equal([7f, 1, 0.5f], reopened.Get("late")!.FeatureVector);
    }

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
