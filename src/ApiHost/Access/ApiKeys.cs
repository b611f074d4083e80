using System.Security.Cryptography;
using System.Text;
using Catalogs.Grains;

namespace Catalogs.ApiHost.Access;

/// <summary>
/// API keys as <c>ck_{tenant}_{id}_{secret}</c>: the tenant and id say where to verify it (one grain call), the secret
/// is 256 random bits. Only the SHA-256 of the secret is stored: with that much entropy a fast hash is as safe as a
/// slow one, and verifying costs microseconds.
/// </summary>
public static class ApiKeys
{
    const string Prefix = "ck";

    public sealed record Parsed(string Tenant, string Id, string Secret);

    /// <summary>A new key: the draft to store (hash only) and the whole key, shown once.</summary>
    public static (ApiKeyDraft Draft, string Key) Create(string tenant, string name, ApiKeyScopes scopes)
    {
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        var secret = Base64Url(RandomNumberGenerator.GetBytes(32));
        return (new ApiKeyDraft(id, name, scopes, Hash(secret)), $"{Prefix}_{tenant}_{id}_{secret}");
    }

    public static Parsed? Parse(string key)
    {
        var parts = key.Split('_', 4);
        return parts is [Prefix, var tenant, var id, var secret] && tenant.Length is > 0 and <= 63
            && tenant.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-')
            && id.Length == 12 && secret.Length >= 32
            ? new Parsed(tenant, id, secret)
            : null;
    }

    public static byte[] Hash(string secret) => SHA256.HashData(Encoding.UTF8.GetBytes(secret));

    /// <summary>A key fit to be an operator key (for the generated one).</summary>
    public static string NewOperatorKey() => "cko_" + Base64Url(RandomNumberGenerator.GetBytes(32));

    static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>Scope names as the API spells them: <c>search</c>, <c>write</c>, <c>admin</c>.</summary>
    public static string[] Names(ApiKeyScopes scopes) => Enum.GetValues<ApiKeyScopes>()
        .Where(s => s != ApiKeyScopes.None && scopes.HasFlag(s)).Select(s => s.ToString().ToLowerInvariant()).ToArray();

    public static ApiKeyScopes ScopesOf(IEnumerable<string>? names)
    {
        var scopes = ApiKeyScopes.None;
        foreach (var name in names ?? [])
        {
            if (!Enum.TryParse<ApiKeyScopes>(name, ignoreCase: true, out var scope) || scope == ApiKeyScopes.None
                || !Enum.IsDefined(scope) || name.Any(char.IsDigit))
                throw CatalogRequestException.Invalid($"Unknown scope '{name}': use search, write or admin.");
            scopes |= scope;
        }
        return scopes != ApiKeyScopes.None
            ? scopes
            : throw CatalogRequestException.Invalid("A key needs at least one scope: search, write or admin.");
    }
}
