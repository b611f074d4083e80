using System.Net;
using Microsoft.Extensions.Http.Resilience;
using Polly;

namespace Catalogs.ApiHost.ImageFetching;

public static class ImageFetchingServiceCollectionExtensions
{
    /// <summary>The guarded image-fetch client: connections only to allowed addresses, no automatic redirects, no
    /// proxy, cookies or credentials, and resilience (one quick retry, a circuit breaker) per host and port, so a
    /// failing host never slows fetches from the others.</summary>
    public static IServiceCollection AddImageFetching(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<ImageFetchOptions>().Bind(configuration.GetSection(ImageFetchOptions.Section))
            .ValidateDataAnnotations().ValidateOnStart();
        var fetch = configuration.GetSection(ImageFetchOptions.Section).Get<ImageFetchOptions>()
            ?? new ImageFetchOptions();
        services.AddSingleton<ImageAddressPolicy>();
        services.AddSingleton<IImageHostResolver, DnsImageHostResolver>();
        services.AddSingleton<ISocketOpener, TcpSocketOpener>();
        services.AddSingleton<GuardedConnector>();
        services.AddSingleton<ImageFetcher>();
        services.AddHttpClient(ImageFetcher.ClientName, c => c.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(provider => new SocketsHttpHandler
            {
                ConnectCallback = provider.GetRequiredService<GuardedConnector>().ConnectAsync,
                ConnectTimeout = fetch.Timeout,
                AllowAutoRedirect = false,
                UseProxy = false,
                UseCookies = false,
                Credentials = null,
                AutomaticDecompression = DecompressionMethods.None,
                MaxResponseHeadersLength = 64,
                PooledConnectionLifetime = TimeSpan.FromMinutes(1),
            })
            .AddStandardResilienceHandler(o =>
            {
                o.TotalRequestTimeout.Timeout = fetch.Timeout;
                o.AttemptTimeout.Timeout = fetch.Timeout;
                o.Retry.MaxRetryAttempts = 1;
                o.Retry.Delay = TimeSpan.FromMilliseconds(200);
                o.Retry.ShouldHandle = args => ValueTask.FromResult(Transient(args.Outcome));
                o.CircuitBreaker.ShouldHandle = args => ValueTask.FromResult(Transient(args.Outcome));
                o.CircuitBreaker.MinimumThroughput = 10;
                o.CircuitBreaker.SamplingDuration = TimeSpan.FromSeconds(Math.Max(30, 2 * fetch.TimeoutSeconds));
                o.CircuitBreaker.BreakDuration = TimeSpan.FromSeconds(15);
            })
            .SelectPipelineByAuthority();
        return services;
    }

    /// <summary>Transient failures, but never a refused address: asking again cannot change the answer.</summary>
    static bool Transient(Outcome<HttpResponseMessage> outcome) =>
        outcome.Exception?.InnerException is not ImageAddressRefusedException
            && HttpClientResiliencePredicates.IsTransient(outcome);
}
