using System.IO.Hashing;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Placement;
using Orleans.Runtime;
using Orleans.Runtime.Placement;

namespace Catalogs.Grains.Placement;

/// <summary>Places the copies of a shard (the primary, key <c>{shard}</c>, and read replicas, <c>{shard}/r{n}</c>)
/// on distinct silos by rendezvous hashing: every silo gets a score from the shard's key and its address, and copy
/// <c>n</c> goes to the silo ranked <c>n</c>. Copies never share a silo while there are enough silos; when a silo
/// joins or leaves, only the copies whose ranking changed move (about 1/N of them), and when a primary's silo dies
/// the primary comes back where its first replica ran.</summary>
[GenerateSerializer, Immutable, SuppressReferenceTracking, Alias("Catalogs.ShardCopyPlacement")]
public sealed class ShardCopyPlacement : PlacementStrategy
{
    public static readonly ShardCopyPlacement Instance = new();

    /// <summary>The key of read replica <paramref name="copy"/> (≥ 1) of <paramref name="shard"/>.</summary>
    public static string ReplicaKey(string shard, int copy) => $"{shard}/r{copy}";

    /// <summary>The shard a copy belongs to, and which copy it is (0: the primary).</summary>
    public static (string Shard, int Copy) Parse(string key)
    {
        int slash = key.LastIndexOf('/');
        return slash > 0 && key.Length > slash + 2 && key[slash + 1] == 'r'
            && int.TryParse(key.AsSpan(slash + 2), out int copy) && copy > 0
            ? (key[..slash], copy)
            : (key, 0);
    }

    /// <summary>The silo for <paramref name="key"/> among <paramref name="silos"/>.</summary>
    public static SiloAddress Choose(string key, IReadOnlyCollection<SiloAddress> silos)
    {
        var (shard, copy) = Parse(key);
        var ranked = silos.OrderByDescending(s => Score(shard, s)).ThenBy(s => s.ToParsableString(),
            StringComparer.Ordinal).ToArray();
        return ranked[copy % ranked.Length];
    }

    static ulong Score(string shard, SiloAddress silo) =>
        XxHash64.HashToUInt64(Encoding.UTF8.GetBytes($"{shard}|{silo.ToParsableString()}"));
}

/// <summary>Marks a grain class whose activations are shard copies placed by
/// <see cref="ShardCopyPlacement"/>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class ShardCopyPlacementAttribute() : PlacementAttribute(ShardCopyPlacement.Instance);

/// <summary>Chooses among the compatible silos that membership says are active: the compatible set can still hold a
/// silo that died, and the choice must be the one <see cref="ShardRebalancer"/> checks against.</summary>
sealed class ShardCopyPlacementDirector(IClusterMembershipService membership) : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target,
        IPlacementContext context)
    {
        var compatible = context.GetCompatibleSilos(target);
        var snapshot = membership.CurrentSnapshot;
        var active = compatible.Where(s => snapshot.GetSiloStatus(s) == SiloStatus.Active).ToList();
        return Task.FromResult(ShardCopyPlacement.Choose(target.GrainIdentity.Key.ToString()!,
            active.Count > 0 ? active : compatible));
    }
}

/// <summary>Moves a shard copy to the silo <see cref="ShardCopyPlacement"/> prefers now (a silo joined, or left):
/// checked on a timer; the copy migrates (it closes here and opens there from the store: a primary saves its graph
/// and gives up its lease first).</summary>
public sealed class ShardRebalancer(IClusterMembershipService membership, ILocalSiloDetails silo,
    IOptions<CatalogsOptions> options, ILogger<ShardRebalancer> logger)
{
    public SiloAddress Silo => silo.SiloAddress;

    /// <summary>Registers the check on <paramref name="grain"/>'s activation; while <paramref name="stay"/> says so,
    /// the copy stays where it is.</summary>
    public void Watch(Grain grain, Func<bool>? stay = null)
    {
        var every = options.Value.PlacementCheckInterval;
        if (every <= TimeSpan.Zero) return;
        var key = grain.GetPrimaryKeyString();
        grain.RegisterGrainTimer(_ =>
        {
            if (Preferred(key) is { } preferred && !preferred.Equals(silo.SiloAddress) && stay?.Invoke() != true)
            {
                logger.LogInformation("Shard copy {Key} moves from {From} to {To}", key, silo.SiloAddress, preferred);
                // A migration, not a deactivation: the grain directory points callers at the new activation at once
                // (a deactivated copy would be re-created where a caller's cache still says it lives).
                grain.GrainContext.Migrate(null);
            }
            return Task.CompletedTask;
        }, new GrainTimerCreationOptions(every, every) { Interleave = true, KeepAlive = false });
    }

    /// <summary>Whether the copy <paramref name="key"/> belongs on this silo now.</summary>
    public bool BelongsHere(string key) => Preferred(key)?.Equals(silo.SiloAddress) == true;

    /// <summary>Where the copy belongs among the active silos; null while this silo is not one of them (it is
    /// joining or leaving: no decision).</summary>
    SiloAddress? Preferred(string key)
    {
        var active = ActiveSilos();
        return active.Contains(silo.SiloAddress) ? ShardCopyPlacement.Choose(key, active) : null;
    }

    List<SiloAddress> ActiveSilos() => membership.CurrentSnapshot.Members.Values
        .Where(m => m.Status == SiloStatus.Active).Select(m => m.SiloAddress).ToList();

    /// <summary>Whether the cluster has a silo of its own for copy <paramref name="key"/> (copy n needs n + 1
    /// silos): a copy without one would share a silo with another copy of its shard, so it holds nothing.</summary>
    public bool HasOwnSilo(string key) => ShardCopyPlacement.Parse(key).Copy < ActiveSilos().Count;
}
