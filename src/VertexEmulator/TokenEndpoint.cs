using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Catalogs.VertexEmulator;

/// <summary>
/// OAuth 2.0 token endpoint for service accounts (RFC 7523 JWT bearer grant, as Google's): verifies the RS256
/// assertion against the registered public key of its issuer, its audience, expiry and scope, and issues an opaque
/// access token that the API routes then require (when the emulator requires authentication).
/// </summary>
static class TokenEndpoint
{
    public static async Task<IResult> ExchangeAsync(HttpContext context, EmulatorState state)
    {
        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        if (form["grant_type"] != "urn:ietf:params:oauth:grant-type:jwt-bearer"
            || form["assertion"].ToString() is not { Length: > 0 } assertion)
            return Results.Json(new { error = "unsupported_grant_type" }, statusCode: 400);
        var parts = assertion.Split('.');
        if (parts.Length != 3) return Invalid("malformed assertion");
        JsonElement header, claims;
        try
        {
            header = JsonDocument.Parse(Base64Url(parts[0])).RootElement;
            claims = JsonDocument.Parse(Base64Url(parts[1])).RootElement;
        }
        catch (Exception ex) when (ex is FormatException or JsonException) { return Invalid("malformed assertion"); }
        if (header.GetProperty("alg").GetString() != "RS256") return Invalid("alg must be RS256");
        var issuer = claims.GetProperty("iss").GetString() ?? "";
        string? pem;
        lock (state.Sync) state.ServiceAccountKeys.TryGetValue(issuer, out pem);
        if (pem is null) return Invalid($"unknown service account {issuer}");
        using var rsa = RSA.Create();
        rsa.ImportFromPem(pem);
        if (!rsa.VerifyData(Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]), Base64Url(parts[2]),
            HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1))
            return Invalid("bad signature");
        var expected = $"{context.Request.Scheme}://{context.Request.Host}{context.Request.Path}";
        // Google's client libraries always name Google's token endpoint as the audience, whatever URL they post to.
        var audience = claims.GetProperty("aud").GetString();
        if (audience != expected && audience != "https://oauth2.googleapis.com/token")
            return Invalid($"audience must be {expected}, not {audience}");
        if (DateTimeOffset.FromUnixTimeSeconds(claims.GetProperty("exp").GetInt64()) < DateTimeOffset.UtcNow)
            return Invalid("assertion expired");
        var scopes = claims.TryGetProperty("scope", out var scope) ? scope.GetString() ?? "" : "";
        if (!scopes.Split(' ').Contains("https://www.googleapis.com/auth/cloud-platform"))
            return Invalid("scope cloud-platform missing");
        var token = "emulator-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        lock (state.Sync) state.Tokens.Add(token);
        return Results.Json(new { access_token = token, token_type = "Bearer", expires_in = 3600 });
    }

    static IResult Invalid(string why) => Results.Json(new { error = "invalid_grant", error_description = why },
        statusCode: 400);

    static byte[] Base64Url(string s)
    {
        s = s.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(s.PadRight(s.Length + (4 - s.Length % 4) % 4, '='));
    }
}
