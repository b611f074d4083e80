namespace Catalogs.Grains;

/// <summary>A tenant, keyed by its name: its catalogs, its settings (quotas, rate limit) and its API keys.</summary>
/// <summary>The names of the tenants the operator created (one activation, key <see cref="Key"/>).</summary>
[Alias("Catalogs.ITenantDirectoryGrain")]
public interface ITenantDirectoryGrain : IGrainWithStringKey
{
    const string Key = "tenants";

    [Alias("List")] Task<string[]> List(CancellationToken cancellationToken = default);
    [Alias("Add")] Task Add(string tenant, CancellationToken cancellationToken = default);
}

[Alias("Catalogs.ITenantGrain")]
public interface ITenantGrain : IGrainWithStringKey
{
    [Alias("List")] Task<string[]> List(CancellationToken cancellationToken = default);

    /// <summary>Records a new catalog of the tenant; refused when the tenant's catalog quota is reached.</summary>
    [Alias("Add")] Task Add(string catalog, CancellationToken cancellationToken = default);

    [Alias("RemoveCatalog")] Task Remove(string catalog, CancellationToken cancellationToken = default);

    /// <summary>Creates the tenant or changes its settings; true when it was created.</summary>
    [Alias("Configure")] Task<bool> Configure(TenantSettings settings, CancellationToken cancellationToken = default);

    /// <summary>The tenant, or null when the operator never created it.</summary>
    [Alias("GetView")] Task<TenantView?> GetView(CancellationToken cancellationToken = default);

    [Alias("GetUsage")] Task<TenantUsage> GetUsage(CancellationToken cancellationToken = default);

    [Alias("AddKey")] Task<ApiKeyInfo> AddKey(ApiKeyDraft key, CancellationToken cancellationToken = default);

    /// <summary>Replaces a key with <paramref name="replacement"/> (same name and scopes); the old one stays valid
    /// for <paramref name="grace"/>.</summary>
    [Alias("RotateKey")]
    Task<ApiKeyInfo> RotateKey(string id, ApiKeyDraft replacement, TimeSpan grace,
        CancellationToken cancellationToken = default);

    [Alias("RevokeKey")] Task RevokeKey(string id, CancellationToken cancellationToken = default);

    /// <summary>What the key <paramref name="id"/> with a secret hashing to <paramref name="secretHash"/> may do;
    /// null when it is unknown, revoked, expired or the secret is wrong.</summary>
    [Alias("Authenticate")]
    Task<KeyGrant?> Authenticate(string id, byte[] secretHash, CancellationToken cancellationToken = default);
}
