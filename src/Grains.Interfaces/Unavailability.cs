using Orleans.Runtime;

namespace Catalogs.Grains;

/// <summary>Failures that say "not now" rather than "not this": a dead or replaced silo, no gateway reachable (every
/// silo a client knows is down or restarting), a call that timed out, a shard whose store is failing over, a database
/// that cannot be reached. Retrying later can succeed.</summary>
public static class Unavailability
{
    public static bool IsTransient(Exception ex) => ex is SiloUnavailableException
        or OrleansMessageRejectionException or TimeoutException or System.Data.Common.DbException
        or Orleans.Runtime.Messaging.ConnectionFailedException or GatewayTooBusyException
        or CatalogRequestException { Error: CatalogError.Unavailable };
}
