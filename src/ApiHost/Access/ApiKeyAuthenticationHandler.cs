using System.Text.Encodings.Web;
using Catalogs.Grains;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Catalogs.ApiHost.Access;

/// <summary>
/// <c>Authorization: Bearer &lt;key&gt;</c>: the operator key, or a tenant's key verified with its tenant. No header:
/// the anonymous tenant when one is configured, else nobody. A header that does not verify is refused even where
/// anonymous requests are served (a mistyped key must not silently act as someone else). Refusals are problem+json.
/// </summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> schemeOptions, ILoggerFactory logger, UrlEncoder encoder,
    IOptions<AccessOptions> access, OperatorKey operatorKey, KeyVerifier verifier,
    IProblemDetailsService problems)
    : AuthenticationHandler<AuthenticationSchemeOptions>(schemeOptions, logger, encoder)
{
    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (header.Length == 0)
        {
            return access.Value.AnonymousTenant is { } tenant
                ? Success(Callers.Tenant(new KeyGrant(tenant, "anonymous", access.Value.AnonymousScopes,
                    new TenantSettings(new TenantQuotas()), null), rate: null)) // a local demo: no rate limit
                : AuthenticateResult.NoResult();
        }
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            return AuthenticateResult.Fail("Send the key as 'Authorization: Bearer <key>'.");
        var key = header["Bearer ".Length..].Trim();
        if (operatorKey.Matches(key)) return Success(Callers.Operator());
        if (ApiKeys.Parse(key) is not { } parsed) return AuthenticateResult.Fail("The key is not valid.");
        var grant = await verifier.VerifyAsync(parsed, Context.RequestAborted);
        return grant is null
            ? AuthenticateResult.Fail("The key is not valid.") // unknown, revoked and expired read alike
            : Success(Callers.Tenant(grant, grant.Settings.RateLimit ?? DefaultRate));
    }

    TenantRateLimit DefaultRate => new(access.Value.DefaultRequestsPerSecond, access.Value.DefaultBurst);

    AuthenticateResult Success(System.Security.Claims.ClaimsPrincipal principal) =>
        AuthenticateResult.Success(new AuthenticationTicket(principal, Scheme.Name));

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var failure = (await HandleAuthenticateOnceSafeAsync()).Failure?.Message;
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = "Bearer";
        await WriteAsync(failure ?? "This endpoint needs an API key: send 'Authorization: Bearer <key>'.");
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status403Forbidden;
        return WriteAsync("The key does not have the scope this endpoint needs.");
    }

    Task WriteAsync(string detail) => problems.WriteAsync(new ProblemDetailsContext
    {
        HttpContext = Context,
        ProblemDetails = { Status = Response.StatusCode, Detail = detail },
    }).AsTask();
}
