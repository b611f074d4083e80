using System.Collections.Concurrent;

namespace Catalogs.ApiHost.Access;

/// <summary>Requests refused by each tenant's rate limit on this API host, for the operator's tenant stats.</summary>
public sealed class RequestCounters
{
    readonly ConcurrentDictionary<string, long> rateLimited = new(StringComparer.Ordinal);

    public void RateLimited(string tenant) => rateLimited.AddOrUpdate(tenant, 1, (_, n) => n + 1);

    public long RateLimitedOf(string tenant) => rateLimited.GetValueOrDefault(tenant);
}
