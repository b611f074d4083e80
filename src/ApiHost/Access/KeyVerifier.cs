using System.Collections.Concurrent;
using Catalogs.Grains;
using Microsoft.Extensions.Options;

namespace Catalogs.ApiHost.Access;

/// <summary>Verifies tenant keys with their tenant grain, remembering each answer (a grant or a refusal) for
/// <see cref="AccessOptions.KeyCacheTtl"/> so that a search costs one grain call, not two.</summary>
public sealed class KeyVerifier(IGrainFactory grains, IOptions<AccessOptions> options, TimeProvider clock)
{
    sealed record Entry(KeyGrant? Grant, DateTimeOffset Until);

    readonly ConcurrentDictionary<string, Entry> cache = new(StringComparer.Ordinal);

    public async Task<KeyGrant?> VerifyAsync(ApiKeys.Parsed key, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var hash = ApiKeys.Hash(key.Secret);
        var cacheKey = $"{key.Tenant}_{key.Id}_{Convert.ToHexString(hash)}";
        if (cache.TryGetValue(cacheKey, out var hit) && hit.Until > now
            && (hit.Grant?.ExpiresAt is not { } expires || expires > now))
            return hit.Grant;
        var grant = await grains.GetGrain<ITenantGrain>(key.Tenant)
            .Authenticate(key.Id, hash, cancellationToken);
        if (cache.Count > 100_000) cache.Clear(); // a flood of made-up keys must not grow it without bound
        cache[cacheKey] = new Entry(grant, now + options.Value.KeyCacheTtl);
        return grant;
    }

    /// <summary>Forgets a key revoked or rotated through this host, so it stops (or starts expiring) here at
    /// once.</summary>
    public void Forget(string tenant, string keyId)
    {
        var prefix = $"{tenant}_{keyId}_";
        foreach (var entry in cache.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal)))
            cache.TryRemove(entry, out _);
    }
}
