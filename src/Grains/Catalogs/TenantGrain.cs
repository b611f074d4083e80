namespace Catalogs.Grains.Catalogs;

/// <summary>The list of a tenant's catalogs (for <c>GET /v1/catalogs</c>).</summary>
public sealed class TenantGrain(
    [PersistentState("tenant", CatalogsHosting.StorageName)] IPersistentState<TenantState> state) : Grain, ITenantGrain
{
    public Task<string[]> List(CancellationToken cancellationToken) => Task.FromResult(state.State.Catalogs.ToArray());

    public async Task Add(string catalog, CancellationToken cancellationToken)
    {
        if (state.State.Catalogs.Add(catalog)) await state.WriteStateAsync(cancellationToken);
    }

    public async Task Remove(string catalog, CancellationToken cancellationToken)
    {
        if (state.State.Catalogs.Remove(catalog)) await state.WriteStateAsync(cancellationToken);
    }
}
