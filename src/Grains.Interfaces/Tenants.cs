namespace Catalogs.Grains;

/// <summary>What an API key may do. A key holds one or more.</summary>
[Flags]
public enum ApiKeyScopes
{
    None = 0,

    /// <summary>Search, read products and catalogs.</summary>
    Search = 1,

    /// <summary>Upsert and delete products.</summary>
    Write = 2,

    /// <summary>Create, configure and delete catalogs, export, and manage the tenant's own keys.</summary>
    Admin = 4,
}

/// <summary>A tenant's limits; null means unlimited.</summary>
[GenerateSerializer, Alias("Catalogs.TenantQuotas")]
public sealed record TenantQuotas(
    [property: Id(0)] int? Catalogs = null,
    [property: Id(1)] long? Products = null,
    [property: Id(2)] long? Bytes = null);

/// <summary>Requests a tenant's keys may make together: a token bucket refilled at
/// <see cref="RequestsPerSecond"/>, holding at most <see cref="Burst"/>.</summary>
[GenerateSerializer, Alias("Catalogs.TenantRateLimit")]
public sealed record TenantRateLimit([property: Id(0)] int RequestsPerSecond, [property: Id(1)] int Burst);

[GenerateSerializer, Alias("Catalogs.TenantSettings")]
public sealed record TenantSettings(
    [property: Id(0)] TenantQuotas Quotas,
    [property: Id(1)] TenantRateLimit? RateLimit = null);

/// <summary>A key as listed: never its secret, which is shown once at creation and stored only as a hash.</summary>
[GenerateSerializer, Alias("Catalogs.ApiKeyInfo")]
public sealed record ApiKeyInfo(
    [property: Id(0)] string Id,
    [property: Id(1)] string Name,
    [property: Id(2)] ApiKeyScopes Scopes,
    [property: Id(3)] DateTimeOffset CreatedAt,
    [property: Id(4)] DateTimeOffset? ExpiresAt = null,
    [property: Id(5)] DateTimeOffset? RevokedAt = null,
    [property: Id(6)] string? ReplacedBy = null);

/// <summary>A new key's stored half: its id, the SHA-256 of its secret, what it may do.</summary>
[GenerateSerializer, Alias("Catalogs.ApiKeyDraft")]
public sealed record ApiKeyDraft(
    [property: Id(0)] string Id,
    [property: Id(1)] string Name,
    [property: Id(2)] ApiKeyScopes Scopes,
    [property: Id(3)] byte[] SecretHash);

/// <summary>What a valid key lets its bearer do: its tenant, scopes and limits, as the API host enforces
/// them.</summary>
[GenerateSerializer, Alias("Catalogs.KeyGrant")]
public sealed record KeyGrant(
    [property: Id(0)] string Tenant,
    [property: Id(1)] string KeyId,
    [property: Id(2)] ApiKeyScopes Scopes,
    [property: Id(3)] TenantSettings Settings,
    [property: Id(4)] DateTimeOffset? ExpiresAt);

/// <summary>A tenant as the operator sees it.</summary>
[GenerateSerializer, Alias("Catalogs.TenantView")]
public sealed record TenantView(
    [property: Id(0)] string Name,
    [property: Id(1)] TenantSettings Settings,
    [property: Id(2)] DateTimeOffset CreatedAt,
    [property: Id(3)] IReadOnlyList<string> Catalogs,
    [property: Id(4)] IReadOnlyList<ApiKeyInfo> Keys);

/// <summary>What a tenant holds now, against its quotas.</summary>
[GenerateSerializer, Alias("Catalogs.TenantUsage")]
public sealed record TenantUsage([property: Id(0)] int Catalogs, [property: Id(1)] long Products,
    [property: Id(2)] long Bytes = 0);
