using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Catalogs.VertexAI;

public static class VertexServiceCollectionExtensions
{
    /// <summary>Registers <see cref="MatchingEngineClient"/> and <see cref="CloudStorageClient"/> as typed clients with
    /// bearer tokens, the request timeout, and <see cref="VertexOptions"/> from <paramref name="configuration"/>
    /// (section <c>Vertex</c>), validated at start-up. Retries belong to the callers (the sync outbox retries with
    /// backoff and jitter; a query degrades instead of waiting).</summary>
    public static IServiceCollection AddVertexClients(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<VertexOptions>().Bind(configuration.GetSection(VertexOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IAccessTokenSource, GoogleCredentialTokenSource>();
        services.AddTransient<GoogleAuthHandler>();
        services.AddHttpClient<MatchingEngineClient>(ConfigureTimeout).AddHttpMessageHandler<GoogleAuthHandler>();
        services.AddHttpClient<CloudStorageClient>(ConfigureTimeout).AddHttpMessageHandler<GoogleAuthHandler>();
        return services;
    }

    static void ConfigureTimeout(IServiceProvider services, HttpClient http) =>
        http.Timeout = services.GetRequiredService<IOptions<VertexOptions>>().Value.RequestTimeout;
}
