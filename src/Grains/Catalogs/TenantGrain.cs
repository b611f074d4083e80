using System.Security.Cryptography;

namespace Catalogs.Grains.Catalogs;

/// <summary>The operator's list of tenants.</summary>
public sealed class TenantDirectoryGrain(
    [PersistentState("tenants", CatalogsHosting.StorageName)] IPersistentState<SortedSet<string>> state)
    : Grain, ITenantDirectoryGrain
{
    public Task<string[]> List(CancellationToken cancellationToken) => Task.FromResult(state.State.ToArray());

    public async Task Add(string tenant, CancellationToken cancellationToken)
    {
        if (state.State.Add(tenant)) await state.WriteStateAsync(cancellationToken);
    }
}

/// <summary>A tenant: the list of its catalogs (for <c>GET /v1/catalogs</c>), its settings and its API keys. Small
/// state, written whole on each change (keys change rarely; catalogs are listed, not their products).</summary>
public sealed class TenantGrain(
    [PersistentState("tenant", CatalogsHosting.StorageName)] IPersistentState<TenantState> state,
    TimeProvider clock) : Grain, ITenantGrain
{
    TenantState State => state.State;

    string Name => this.GetPrimaryKeyString();

    public Task<string[]> List(CancellationToken cancellationToken) => Task.FromResult(State.Catalogs.ToArray());

    public async Task Add(string catalog, CancellationToken cancellationToken)
    {
        if (State.Catalogs.Contains(catalog)) return;
        if (State.Settings?.Quotas.Catalogs is { } quota && State.Catalogs.Count >= quota)
            throw CatalogRequestException.QuotaExceeded(
                $"The tenant's quota of {quota} catalogs is reached: delete one or ask the operator for more.");
        State.Catalogs.Add(catalog);
        await state.WriteStateAsync(cancellationToken);
    }

    public async Task Remove(string catalog, CancellationToken cancellationToken)
    {
        if (State.Catalogs.Remove(catalog)) await state.WriteStateAsync(cancellationToken);
    }

    public async Task<bool> Configure(TenantSettings settings, CancellationToken cancellationToken)
    {
        bool created = State.Settings is null;
        // Listed first: a tenant whose own write then fails is listed without settings, never the reverse.
        if (created) await GrainFactory.GetGrain<ITenantDirectoryGrain>(ITenantDirectoryGrain.Key)
            .Add(Name, cancellationToken);
        State.Settings = settings;
        if (created) State.CreatedAt = clock.GetUtcNow();
        await state.WriteStateAsync(cancellationToken);
        return created;
    }

    public Task<TenantView?> GetView(CancellationToken cancellationToken) => Task.FromResult(
        State.Settings is { } settings
            ? new TenantView(Name, settings, State.CreatedAt, State.Catalogs.ToArray(),
                State.Keys.Values.Select(k => k.Info).OrderBy(k => k.CreatedAt).ToArray())
            : null);

    public async Task<TenantUsage> GetUsage(CancellationToken cancellationToken)
    {
        var infos = await Task.WhenAll(State.Catalogs.Select(c =>
            GrainFactory.GetGrain<ICatalogGrain>($"{Name}/{c}").GetInfo(cancellationToken)));
        return new TenantUsage(State.Catalogs.Count, infos.Sum(i => i?.Products ?? 0),
            infos.Sum(i => i?.StoredBytes ?? 0));
    }

    public async Task<ApiKeyInfo> AddKey(ApiKeyDraft key, CancellationToken cancellationToken)
    {
        RequireTenant();
        var info = new ApiKeyInfo(key.Id, key.Name, key.Scopes, clock.GetUtcNow());
        State.Keys[key.Id] = new StoredKey(info, key.SecretHash);
        await state.WriteStateAsync(cancellationToken);
        return info;
    }

    public async Task<ApiKeyInfo> RotateKey(string id, ApiKeyDraft replacement, TimeSpan grace,
        CancellationToken cancellationToken)
    {
        var old = LiveKey(id);
        var now = clock.GetUtcNow();
        var info = new ApiKeyInfo(replacement.Id, old.Info.Name, old.Info.Scopes, now);
        State.Keys[replacement.Id] = new StoredKey(info, replacement.SecretHash);
        var until = now + grace;
        State.Keys[id] = old with
        {
            Info = old.Info with
            {
                ExpiresAt = old.Info.ExpiresAt is { } e && e < until ? e : until,
                ReplacedBy = replacement.Id,
            },
        };
        await state.WriteStateAsync(cancellationToken);
        return info;
    }

    public async Task RevokeKey(string id, CancellationToken cancellationToken)
    {
        var key = LiveKey(id);
        State.Keys[id] = key with { Info = key.Info with { RevokedAt = clock.GetUtcNow() } };
        await state.WriteStateAsync(cancellationToken);
    }

    public Task<KeyGrant?> Authenticate(string id, byte[] secretHash, CancellationToken cancellationToken)
    {
        KeyGrant? grant = null;
        if (State.Settings is { } settings && State.Keys.TryGetValue(id, out var key) && IsLive(key.Info)
            && CryptographicOperations.FixedTimeEquals(key.SecretHash, secretHash))
            grant = new KeyGrant(Name, id, key.Info.Scopes, settings, key.Info.ExpiresAt);
        return Task.FromResult(grant);
    }

    bool IsLive(ApiKeyInfo key) => key.RevokedAt is null && (key.ExpiresAt is not { } e || e > clock.GetUtcNow());

    StoredKey LiveKey(string id)
    {
        RequireTenant();
        return State.Keys.TryGetValue(id, out var key) && IsLive(key.Info)
            ? key
            : throw CatalogRequestException.NotFound($"There is no live key '{id}' in tenant '{Name}'.");
    }

    void RequireTenant()
    {
        if (State.Settings is null)
            throw CatalogRequestException.NotFound($"There is no tenant '{Name}'.");
    }
}
