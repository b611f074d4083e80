using Catalogs.Grains;
using Microsoft.Extensions.Options;

namespace Catalogs.ApiHost.Infrastructure;

/// <summary>Routes a request to the grains of the serving tenant's catalog (the tenant is part of every grain
/// key).</summary>
public sealed class CatalogGateway(IGrainFactory grains, IOptions<ApiOptions> options)
{
    public string Tenant => options.Value.Tenant;

    public ICatalogGrain Catalog(string name)
    {
        RequestValidator.CatalogNameIsValid(name);
        return grains.GetGrain<ICatalogGrain>($"{Tenant}/{name}");
    }

    public ITenantGrain TenantGrain => grains.GetGrain<ITenantGrain>(Tenant);
}
