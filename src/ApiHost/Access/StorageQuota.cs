using System.Collections.Concurrent;
using Catalogs.Grains;
using Microsoft.Extensions.Options;

namespace Catalogs.ApiHost.Access;

/// <summary>Refuses upserts once a tenant holds its quota of products or of stored bytes (images as uploaded plus
/// vectors). The usage comes from the tenant's catalogs and is reused for <see cref="AccessOptions.UsageCacheTtl"/>:
/// a burst of writes may pass a quota by what lands in that window, and at a quota updates of existing products are
/// refused too (a count cannot tell them apart).</summary>
public sealed class StorageQuota(IGrainFactory grains, IOptions<AccessOptions> options, TimeProvider clock)
{
    readonly ConcurrentDictionary<string, (TenantUsage Usage, DateTimeOffset Until)> usage = new();

    public async Task EnsureRoomAsync(HttpContext context, int adding, CancellationToken cancellationToken)
    {
        if (Callers.TenantOf(context.User) is { } tenant)
            await EnsureRoomAsync(tenant, Callers.QuotasOf(context.User), adding, cancellationToken);
    }

    /// <summary>The same check outside a request (an import job, with the quotas its key had).</summary>
    public async Task EnsureRoomAsync(string tenant, TenantQuotas quotas, int adding,
        CancellationToken cancellationToken)
    {
        if (quotas is { Products: null, Bytes: null }) return;
        var now = clock.GetUtcNow();
        if (!usage.TryGetValue(tenant, out var known) || known.Until <= now)
        {
            var current = await grains.GetGrain<ITenantGrain>(tenant).GetUsage(cancellationToken);
            usage[tenant] = known = (current, now + options.Value.UsageCacheTtl);
        }
        if (quotas.Products is { } products && known.Usage.Products + adding > products)
            throw CatalogRequestException.QuotaExceeded($"The tenant's quota of {products} products is reached " +
                $"({known.Usage.Products} stored): delete products or ask the operator for more.");
        if (quotas.Bytes is { } bytes && known.Usage.Bytes >= bytes)
            throw CatalogRequestException.QuotaExceeded($"The tenant's quota of {bytes:N0} stored bytes is reached " +
                $"({known.Usage.Bytes:N0} stored: images as uploaded and vectors): delete products or ask the " +
                $"operator for more.");
    }
}
