using System.Collections.Concurrent;
using Catalogs.Grains;
using Microsoft.Extensions.Options;

namespace Catalogs.ApiHost.Access;

/// <summary>Refuses upserts once a tenant holds its quota of products. The count comes from the tenant's catalogs
/// and is reused for <see cref="AccessOptions.UsageCacheTtl"/>: a burst of writes may pass the quota by what lands
/// in that window, and at the quota updates of existing products are refused too (a count cannot tell them
/// apart).</summary>
public sealed class ProductQuota(IGrainFactory grains, IOptions<AccessOptions> options, TimeProvider clock)
{
    readonly ConcurrentDictionary<string, (long Products, DateTimeOffset Until)> usage = new();

    public async Task EnsureRoomAsync(HttpContext context, int adding, CancellationToken cancellationToken)
    {
        if (Callers.ProductQuotaOf(context.User) is { } quota && Callers.TenantOf(context.User) is { } tenant)
            await EnsureRoomAsync(tenant, quota, adding, cancellationToken);
    }

    /// <summary>The same check outside a request (an import job, with the quota its key had).</summary>
    public async Task EnsureRoomAsync(string tenant, long quota, int adding, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        if (!usage.TryGetValue(tenant, out var known) || known.Until <= now)
        {
            var current = await grains.GetGrain<ITenantGrain>(tenant).GetUsage(cancellationToken);
            usage[tenant] = known = (current.Products, now + options.Value.UsageCacheTtl);
        }
        if (known.Products + adding > quota)
            throw CatalogRequestException.QuotaExceeded($"The tenant's quota of {quota} products is reached " +
                $"({known.Products} stored): delete products or ask the operator for more.");
    }
}
