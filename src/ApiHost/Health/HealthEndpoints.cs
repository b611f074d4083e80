using Catalogs.ApiHost.Infrastructure;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Catalogs.ApiHost.Health;

/// <summary><c>/healthz</c>: the process serves HTTP. <c>/readyz</c>: the grains answer too.</summary>
public static class HealthEndpoints
{
    public static IServiceCollection AddCatalogHealthChecks(this IServiceCollection services)
    {
        services.AddHealthChecks().AddCheck<GrainsReadyCheck>("grains", tags: ["ready"]);
        return services;
    }

    public static IEndpointRouteBuilder MapHealthEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapHealthChecks("/healthz", new() { Predicate = _ => false }).WithTags("Health");
        app.MapHealthChecks("/readyz", new() { Predicate = c => c.Tags.Contains("ready") }).WithTags("Health");
        return app;
    }

    sealed class GrainsReadyCheck(CatalogGateway gateway) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context,
            CancellationToken cancellationToken)
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(TimeSpan.FromSeconds(5));
                var catalogs = await gateway.TenantGrain.List(timeout.Token);
                return HealthCheckResult.Healthy($"{catalogs.Length} catalogs");
            }
            catch (Exception ex)
            {
                return HealthCheckResult.Unhealthy("The grains do not answer.", ex);
            }
        }
    }
}
