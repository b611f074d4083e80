using Orleans.Concurrency;
using Orleans.Runtime;

namespace Catalogs.Grains.Hosting;

[StatelessWorker]
public sealed class MembershipGrain(IClusterMembershipService membership) : Grain, IMembershipGrain
{
    public Task<DeadSilos> GetDeadSilos(CancellationToken cancellationToken)
    {
        var snapshot = membership.CurrentSnapshot;
        return Task.FromResult(new DeadSilos(snapshot.Version.Value, snapshot.Members.Values
            .Where(m => m.Status == SiloStatus.Dead).Select(m => m.SiloAddress.ToString()).Order().ToArray()));
    }
}
