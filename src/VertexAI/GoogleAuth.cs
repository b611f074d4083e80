using Google.Apis.Auth.OAuth2;
using Google.Apis.Json;
using Microsoft.Extensions.Options;

namespace Catalogs.VertexAI;

/// <summary>Bearer tokens for Google APIs.</summary>
public interface IAccessTokenSource
{
    /// <summary>A valid access token, or null to send the request without one.</summary>
    Task<string?> GetAccessTokenAsync(CancellationToken cancellationToken);
}

/// <summary>
/// Tokens from Google.Apis.Auth, scope cloud-platform: a service-account key file (its JWT assertion exchanged at the
/// key's <c>token_uri</c>, or at <see cref="VertexOptions.TokenUri"/>), else Application Default Credentials.
/// The library caches each token and refreshes it before it expires.
/// </summary>
public sealed class GoogleCredentialTokenSource(IOptions<VertexOptions> options) : IAccessTokenSource
{
    public const string CloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform";

    readonly Lazy<Task<ICredential?>> credential = new(() => CreateAsync(options.Value));

    public async Task<string?> GetAccessTokenAsync(CancellationToken cancellationToken)
    {
        var c = await credential.Value;
        return c is null ? null : await c.GetAccessTokenForRequestAsync(cancellationToken: cancellationToken);
    }

    static async Task<ICredential?> CreateAsync(VertexOptions o)
    {
        if (o.Anonymous) return null;
        if (o.CredentialsFile is null)
            return (await GoogleCredential.GetApplicationDefaultAsync()).CreateScoped(CloudPlatformScope)
                .UnderlyingCredential;
        var json = await File.ReadAllTextAsync(o.CredentialsFile);
        var key = NewtonsoftJsonSerializer.Instance.Deserialize<JsonCredentialParameters>(json);
        if (key.Type != JsonCredentialParameters.ServiceAccountCredentialType)
            return CredentialFactory.FromJson<GoogleCredential>(json).CreateScoped(CloudPlatformScope)
                .UnderlyingCredential;
        var tokenUri = o.TokenUri?.ToString() ?? key.TokenUri ?? GoogleAuthConsts.OidcTokenUrl;
        var initializer = new ServiceAccountCredential.Initializer(key.ClientEmail, tokenUri)
        {
            Scopes = [CloudPlatformScope],
            KeyId = key.PrivateKeyId,
            ProjectId = key.ProjectId,
        }.FromPrivateKey(key.PrivateKey);
        return new ServiceAccountCredential(initializer);
    }
}

/// <summary>Adds <c>Authorization: Bearer …</c> to every request of a typed client.</summary>
public sealed class GoogleAuthHandler(IAccessTokenSource tokens) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request,
        CancellationToken cancellationToken)
    {
        if (await tokens.GetAccessTokenAsync(cancellationToken) is { } token)
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        return await base.SendAsync(request, cancellationToken);
    }
}
