using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;

namespace Catalogs.VertexAI;

public static class VertexServiceCollectionExtensions
{
    /// <summary>Registers <see cref="MatchingEngineClient"/> as a typed client with bearer tokens and the standard
    /// resilience handler, <see cref="CloudStorageClient"/> (Google's Cloud Storage library, same tokens), and <see
    /// cref="VertexOptions"/> from
    /// <paramref name="configuration"/> (section <c>Vertex</c>), validated at start-up. The handler retries only safe
    /// methods (GET: describes, operations, downloads, listings); writes are retried by their callers, which know
    /// when that is safe (the sync outbox, resumable upload chunks). Its attempt timeout is
    /// <see cref="VertexOptions.RequestTimeout"/>.</summary>
    public static IServiceCollection AddVertexClients(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<VertexOptions>().Bind(configuration.GetSection(VertexOptions.Section))
            .ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IAccessTokenSource, GoogleCredentialTokenSource>();
        services.AddTransient<GoogleAuthHandler>();
        services.AddHttpClient<MatchingEngineClient>(NoClientTimeout).AddHttpMessageHandler<GoogleAuthHandler>()
            .AddStandardResilienceHandler().Configure(Resilience);
        // Google's client library brings its own HTTP stack and retries (resumable uploads resume after failures).
        services.AddSingleton<CloudStorageClient>();
        return services;
    }

    // The resilience pipeline owns the timeouts.
    static void NoClientTimeout(HttpClient http) => http.Timeout = Timeout.InfiniteTimeSpan;

    static void Resilience(HttpStandardResilienceOptions o, IServiceProvider services)
    {
        var timeout = services.GetRequiredService<IOptions<VertexOptions>>().Value.RequestTimeout;
        o.Retry.DisableForUnsafeHttpMethods();
        o.AttemptTimeout.Timeout = timeout;
        o.TotalRequestTimeout.Timeout = timeout * 4;
        o.CircuitBreaker.SamplingDuration = timeout * 2 > TimeSpan.FromSeconds(30) ? timeout * 2
            : TimeSpan.FromSeconds(30);
    }
}
