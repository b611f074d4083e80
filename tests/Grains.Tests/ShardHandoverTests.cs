using Catalogs.Grains.Shards;
using Catalogs.Shards;
using Catalogs.Shards.Storage;
using Catalogs.Storage;
using Catalogs.Tests;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Catalogs.Grains.Tests;

/// <summary>Shard copies kept open across a deactivation the runtime forced (the silo holding their directory
/// entry died): taken by the copy's next activation or by a primary taking over on the silo, closed when
/// unclaimed.</summary>
public class ShardHandoverTests
{
    static readonly ShardSettings Settings = new(0, SimilarityMetric.Cosine, 2, IndexSpec.Default);
    static readonly LocalShardOptions Options = new(SnapshotEveryRecords: 1000,
        IndexSnapshotMinInterval: TimeSpan.Zero);

    static Datapoint Point(string id, float x) => new(id, [x, 1], [], [], null, null, DateTimeOffset.UnixEpoch);

    // No replica grain is loaded on this silo, so no grain is called and the silo is not asked.
    static ShardHandover Handover(TimeSpan keepFor) => new(null!, null!,
        Microsoft.Extensions.Options.Options.Create(new CatalogsOptions { KeepDeactivatedShardsFor = keepFor }),
        NullLogger<ShardHandover>.Instance);

    [Fact]
    public async Task A_kept_replica_becomes_the_primary_in_place_with_what_the_old_primary_wrote_after_it_left()
    {
        var store = new LocalShardStore(TestPaths.NewTempDirectory("kept-replica"));
        var primary = await LocalShard.OpenAsync(store, Settings, Options, NullLogger.Instance, default);
        for (int i = 0; i < 5; i++) await primary.UpsertAsync([Point($"p{i}", i)]);
        long epoch = primary.LeaseEpoch;
        var replica = await LocalShard.OpenReplicaAsync(store, Options, NullLogger.Instance, default);
        var handover = Handover(TimeSpan.FromMinutes(1));
        handover.Keep("t/c/1/0/r1", replica);
        var other = await LocalShard.OpenReplicaAsync(store, Options, NullLogger.Instance, default);
        handover.Keep("t/c/1/1/r1", other); // another shard's: not taken for this one
        for (int i = 5; i < 8; i++) await primary.UpsertAsync([Point($"p{i}", i)]);
        await primary.DisposeAsync(); // its silo died

        await using var promoted = await handover.TakeAsync("t/c/1/0", store, default);
        Assert.Same(replica, promoted);
        Assert.Equal("promoted", promoted!.IndexOrigin);
        Assert.Equal(8, promoted.Count);
        Assert.Equal(epoch + 1, promoted.LeaseEpoch);
        Assert.Null(handover.TakeKept("t/c/1/0/r1"));
        Assert.Same(other, handover.TakeKept("t/c/1/1/r1"));
        await other.DisposeAsync();
    }

    [Fact]
    public async Task A_kept_primary_goes_on_under_its_lease_and_an_unclaimed_copy_is_closed()
    {
        var store = new LocalShardStore(TestPaths.NewTempDirectory("kept-primary"));
        var primary = await LocalShard.OpenAsync(store, Settings, Options, NullLogger.Instance, default);
        await primary.UpsertAsync([Point("a", 1)]);
        var handover = Handover(TimeSpan.FromMilliseconds(200));
        handover.Keep("t/c/1/0", primary);
        var taken = handover.TakeKept("t/c/1/0");
        Assert.Same(primary, taken);
        await taken!.UpsertAsync([Point("b", 2)]); // the same lease: nothing to open again
        Assert.Equal(2, taken.Count);

        // Kept again and never taken: closed after the grace, which saves its graph as a deactivation does.
        handover.Keep("t/c/1/0", taken);
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.Null(handover.TakeKept("t/c/1/0"));
        await using var reopened = await LocalShard.OpenAsync(store, null, Options, NullLogger.Instance, default);
        Assert.Equal(2, reopened.Count);
        Assert.Equal("snapshot", reopened.IndexOrigin);
        Assert.Equal(primary.LeaseEpoch + 1, reopened.LeaseEpoch);
    }

    [Theory]
    [InlineData("-00:00:01", false)]
    [InlineData("01:00:01", false)]
    [InlineData("00:00:00", true)]
    [InlineData("00:01:00", true)]
    public void How_long_a_copy_is_kept_is_checked_at_start_up(string keepFor, bool valid)
    {
        // The silo validates its options with their data annotations before it starts.
        var options = new CatalogsOptions { KeepDeactivatedShardsFor = TimeSpan.Parse(keepFor) };
        var errors = new List<System.ComponentModel.DataAnnotations.ValidationResult>();
        Assert.Equal(valid, System.ComponentModel.DataAnnotations.Validator.TryValidateObject(options,
            new(options), errors, validateAllProperties: true));
        Assert.Equal(valid, !errors.Any(e => e.MemberNames.Contains(nameof(CatalogsOptions.KeepDeactivatedShardsFor))));
    }
}
