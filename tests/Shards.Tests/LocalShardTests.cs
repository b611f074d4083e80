using Catalogs.Grains;
using Catalogs.Shards.Storage;
using Catalogs.Storage;
using Catalogs.Tests;
using Microsoft.Extensions.Logging.Abstractions;

namespace Catalogs.Shards.Tests;

public class LocalShardTests
{
    static readonly ShardSettings Settings = new(0, SimilarityMetric.Cosine, 3, IndexSpec.Default);
    static readonly LocalShardOptions Options = new(SnapshotEveryRecords: 10, IndexSnapshotMinInterval: TimeSpan.Zero);

    static Datapoint Point(string id, float x) => new(id, [x, 1, 0.5f], [new Restrict("c", ["a"], [])], [], null, null,
        DateTimeOffset.UnixEpoch);

    static Task<LocalShard> Open(IShardStore store, ShardSettings? settings = null) =>
        LocalShard.OpenAsync(store, settings ?? Settings, Options, NullLogger.Instance, default);

    [Fact]
    public async Task Acknowledged_products_keep_their_vector_only_in_the_index_and_every_read_gets_it_exactly()
    {
        var dir = TestPaths.NewTempDirectory("one-copy");
        var vectors = Enumerable.Range(0, 30).ToDictionary(i => $"p{i}", i =>
            new[] { i * 0.37f + 0.01f, 250f, -3e-3f });
        var shard = await Open(new LocalShardStore(dir));
        foreach (var (id, v) in vectors) await shard.UpsertAsync([Point(id, 0) with { FeatureVector = v }]);
        Assert.All(shard.Products(), p => Assert.Empty(p.FeatureVector)); // payload only, once indexed
        Assert.Equal(vectors["p4"], shard.Get("p4")!.FeatureVector); // as given, not normalised
        var hits = await shard.SearchAsync(new SearchQuery(vectors["p9"], 3, [], [], null, ReturnVectors: true),
            default);
        Assert.All(hits, h => Assert.Equal(vectors[h.Id], h.Datapoint.FeatureVector));
        var bare = await shard.SearchAsync(new SearchQuery(vectors["p9"], 3, [], [], null), default);
        Assert.All(bare, h => Assert.Empty(h.Datapoint.FeatureVector));
        Assert.Equal(vectors.Keys.Order(), shard.WithVectors(shard.Products()).Select(p => p.Id).Order());
        Assert.True(await shard.RemoveAsync("p1"));
        Assert.Null(shard.WithVector(Point("p1", 0) with { FeatureVector = [] }));
        await shard.DisposeAsync();

        // Snapshots were written from the index's copies (every 10 records): they reload exactly.
        await using var reopened = await Open(new LocalShardStore(dir));
        Assert.Null(reopened.Get("p1"));
        foreach (var (id, v) in vectors.Where(kv => kv.Key != "p1")) Assert.Equal(v, reopened.Get(id)!.FeatureVector);
        Assert.All(reopened.Products(), p => Assert.Empty(p.FeatureVector));
    }

    [Fact]
    public async Task A_disk_that_fills_mid_batch_fails_the_writes_and_a_reopened_shard_has_every_acknowledged_one()
    {
        var dir = TestPaths.NewTempDirectory("full-disk");
        var faulty = new FaultyStore(new LocalShardStore(dir)) { FailAfterAppends = 12 };
        var shard = await Open(faulty);
        var acknowledged = new List<string>();
        var refused = 0;
        for (int i = 0; i < 20; i++)
        {
            try
            {
                await shard.UpsertAsync([Point($"p{i}", i), Point($"q{i}", -i)]);
                acknowledged.AddRange([$"p{i}", $"q{i}"]);
            }
            catch (IOException)
            {
                refused++;
            }
        }
        Assert.Equal(8, refused); // the failing append, and every one after it: the instance is done
        Assert.Equal(24, acknowledged.Count);
        await shard.DisposeAsync();

        await using var reopened = await Open(new LocalShardStore(dir));
        Assert.Equal(acknowledged.Order(), reopened.Products().Select(p => p.Id).Order());
        await reopened.UpsertAsync([Point("after", 1)]);
        Assert.NotNull(reopened.Get("after"));
    }

    [Fact]
    public async Task Snapshots_truncate_the_log_only_up_to_what_the_change_feed_still_needs()
    {
        var dir = TestPaths.NewTempDirectory("feed");
        var shard = await Open(new LocalShardStore(dir));
        var seen = new List<long>();
        shard.Changed = change => seen.Add(change.Sequence);
        shard.KeepLogAfter = () => 5; // a consumer that is at sequence 5
        for (int i = 0; i < 40; i++) await shard.UpsertAsync([Point($"p{i % 7}", i)]);
        Assert.Equal(Enumerable.Range(1, 40).Select(i => (long)i), seen);
        // The snapshots run in the background, one at a time: at least the one at 20 comes (on a busy machine the
        // next threshold may pass while it runs).
        Assert.True(await Eventually.HoldsAsync(() => shard.SnapshotSequence >= 20),
            $"snapshot at {shard.SnapshotSequence}");
        var changes = shard.ReadChanges(5, shard.LastSequence)!;
        Assert.Equal(35, changes.Count);
        Assert.Equal(6, changes[0].Sequence);
        await shard.DisposeAsync();
        await using var reopened = await Open(new LocalShardStore(dir));
        Assert.Equal(7, reopened.Count);
        Assert.Equal("snapshot", reopened.IndexOrigin);
    }

    [Fact]
    public async Task A_growing_shard_saves_its_graph_each_time_it_doubles_so_a_replica_opening_need_not_rebuild()
    {
        var dir = TestPaths.NewTempDirectory("graph-doubling");
        // Graph saves at most hourly by time: only the doubling rule can save one here.
        var options = Options with { IndexSnapshotMinInterval = TimeSpan.FromHours(1) };
        await using var shard = await LocalShard.OpenAsync(new LocalShardStore(dir), Settings, options,
            NullLogger.Instance, default);
        // Snapshots run one at a time in the background: write on until one at 40 or later has come.
        int written = 0;
        while (shard.SnapshotSequence < 40 && written < 2000)
        {
            await shard.UpsertAsync([Point($"p{written}", written)]);
            written++;
            if (written >= 45) await Task.Delay(10);
        }
        Assert.True(shard.SnapshotSequence >= 40, $"snapshot at {shard.SnapshotSequence}");
        await using var replica = await LocalShard.OpenReplicaAsync(new LocalShardStore(dir), options,
            NullLogger.Instance, default);
        Assert.Equal(written, replica.Count);
        // A graph saved at one of the doublings, brought up to date: not a rebuild.
        Assert.Equal("snapshot", replica.IndexOrigin);
        Assert.InRange(replica.IndexReconciled, 0, written - 10);
        var hits = await replica.SearchAsync(new SearchQuery([written - 1, 1, 0.5f], 1, [], [], null), default);
        Assert.Equal($"p{written - 1}", hits.Single().Id);
    }

    [Fact]
    public async Task Settings_are_fixed_at_creation()
    {
        var dir = TestPaths.NewTempDirectory("settings");
        await (await Open(new LocalShardStore(dir))).DisposeAsync();
        var other = Settings with { Dimensions = 4 };
        var conflict = await Assert.ThrowsAsync<CatalogRequestException>(() => Open(new LocalShardStore(dir), other));
        Assert.Equal(CatalogError.Conflict, conflict.Error);
        Assert.True(LocalShard.Exists(new LocalShardStore(dir)));
        Assert.False(LocalShard.Exists(new LocalShardStore(TestPaths.NewTempDirectory("none"))));
    }

    /// <summary>A store whose appends fail from the n-th on, like a disk that fills up.</summary>
    sealed class FaultyStore(IShardStore inner) : IShardStore
    {
        public int FailAfterAppends { get; init; } = int.MaxValue;

        public byte[]? ReadMetadata(string name) => inner.ReadMetadata(name);

        public async Task<IShardWriter> OpenWriterAsync(CancellationToken cancellationToken) =>
            new Writer(await inner.OpenWriterAsync(cancellationToken), FailAfterAppends);

        public IShardReader OpenReader() => inner.OpenReader();

        sealed class Writer(IShardWriter inner, int failAfter) : IShardWriter
        {
            int appends;

            public long Epoch => inner.Epoch;
            public long LastSequence => inner.LastSequence;
            public IEnumerable<LogRecord> ReadLog(long afterSequence) => inner.ReadLog(afterSequence);
            public long LogFloor() => inner.LogFloor();

            public Task AppendAsync(IReadOnlyList<LogRecord> records) =>
                ++appends > failAfter ? Task.FromException(new IOException("No space left on device"))
                    : inner.AppendAsync(records);

            public Task RollLogAsync() => inner.RollLogAsync();
            public Task<int> DeleteLogThroughAsync(long sequence) => inner.DeleteLogThroughAsync(sequence);
            public Snapshot? ReadLatestSnapshot(Action<string> onSkipped) => inner.ReadLatestSnapshot(onSkipped);
            public Task WriteSnapshotAsync(long sequence, IEnumerable<ReadOnlyMemory<byte>> entries) =>
                inner.WriteSnapshotAsync(sequence, entries);
            public Stream? OpenBlob(string name) => inner.OpenBlob(name);
            public Task WriteBlobAsync(string name, Action<Stream> write) => inner.WriteBlobAsync(name, write);
            public Task DeleteBlobAsync(string name) => inner.DeleteBlobAsync(name);
            public byte[]? ReadMetadata(string name) => inner.ReadMetadata(name);
            public Task WriteMetadataAsync(string name, byte[] content) => inner.WriteMetadataAsync(name, content);
            public Task DeleteMetadataAsync(string name) => inner.DeleteMetadataAsync(name);
            public Task DestroyAsync() => inner.DestroyAsync();
            public ValueTask DisposeAsync() => inner.DisposeAsync();
        }
    }
}
