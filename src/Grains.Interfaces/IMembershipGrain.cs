namespace Catalogs.Grains;

/// <summary>The cluster's membership as the silo that answers sees it. A stateless worker: it answers on the
/// gateway silo a client's call reaches, so no silo's death stops it answering.</summary>
[Alias("Catalogs.IMembershipGrain")]
public interface IMembershipGrain : IGrainWithIntegerKey
{
    [Alias("GetDeadSilos")]
    Task<DeadSilos> GetDeadSilos(CancellationToken cancellationToken = default);
}

/// <summary>The silos membership has declared dead, at membership <see cref="Version"/>.</summary>
[GenerateSerializer, Immutable, Alias("Catalogs.DeadSilos")]
public sealed record DeadSilos([property: Id(0)] long Version, [property: Id(1)] string[] Silos);
