namespace Catalogs.Grains;

/// <summary>The catalogs of a tenant, keyed by tenant.</summary>
[Alias("Catalogs.ITenantGrain")]
public interface ITenantGrain : IGrainWithStringKey
{
    [Alias("List")] Task<string[]> List(CancellationToken cancellationToken = default);
    [Alias("Add")] Task Add(string catalog, CancellationToken cancellationToken = default);
    [Alias("RemoveCatalog")] Task Remove(string catalog, CancellationToken cancellationToken = default);
}
