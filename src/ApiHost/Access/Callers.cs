using System.Security.Claims;
using Catalogs.Grains;

namespace Catalogs.ApiHost.Access;

/// <summary>Who a request comes from, as the authentication handler found it: a tenant's key (its tenant, scopes
/// and limits), the anonymous tenant, or the operator.</summary>
public static class Callers
{
    public const string Scheme = "ApiKey";
    public const string OperatorRole = "operator";
    const string TenantClaim = "catalogs:tenant";
    const string ScopeClaim = "catalogs:scope";
    const string KeyClaim = "catalogs:key";
    const string RateClaim = "catalogs:rate";
    const string ProductQuotaClaim = "catalogs:products", ByteQuotaClaim = "catalogs:bytes";

    /// <summary>A tenant's caller; <paramref name="rate"/> null: not rate-limited.</summary>
    public static ClaimsPrincipal Tenant(KeyGrant grant, TenantRateLimit? rate)
    {
        var claims = new List<Claim> { new(TenantClaim, grant.Tenant), new(KeyClaim, grant.KeyId) };
        if (rate is not null) claims.Add(new(RateClaim, $"{rate.RequestsPerSecond}/{rate.Burst}"));
        claims.AddRange(ApiKeys.Names(grant.Scopes).Select(s => new Claim(ScopeClaim, s)));
        if (grant.Settings.Quotas.Products is { } products)
            claims.Add(new(ProductQuotaClaim, products.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        if (grant.Settings.Quotas.Bytes is { } bytes)
            claims.Add(new(ByteQuotaClaim, bytes.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        return new ClaimsPrincipal(new ClaimsIdentity(claims, Scheme));
    }

    public static ClaimsPrincipal Operator() =>
        new(new ClaimsIdentity([new Claim(ClaimTypes.Role, OperatorRole)], Scheme));

    public static string? TenantOf(ClaimsPrincipal user) => user.FindFirst(TenantClaim)?.Value;

    public static bool Has(ClaimsPrincipal user, ApiKeyScopes scope) =>
        user.HasClaim(ScopeClaim, ApiKeys.Names(scope)[0]);

    public static TenantRateLimit? RateOf(ClaimsPrincipal user) =>
        user.FindFirst(RateClaim)?.Value.Split('/') is [var rps, var burst]
            ? new TenantRateLimit(int.Parse(rps), int.Parse(burst))
            : null;

    /// <summary>The caller's tenant's product and byte quotas (catalogs are checked by the tenant grain).</summary>
    public static TenantQuotas QuotasOf(ClaimsPrincipal user) =>
        new(null, Long(user, ProductQuotaClaim), Long(user, ByteQuotaClaim));

    static long? Long(ClaimsPrincipal user, string claim) =>
        user.FindFirst(claim)?.Value is { } v ? long.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : null;

    /// <summary>The policy name of each scope, and of the operator.</summary>
    public static string Policy(ApiKeyScopes scope) => "scope:" + ApiKeys.Names(scope)[0];

    public const string OperatorPolicy = "operator";
}
