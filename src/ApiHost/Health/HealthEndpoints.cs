using Catalogs.ApiHost.Infrastructure;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Catalogs.ApiHost.Health;

/// <summary>The API host is ready (<c>/readyz</c>, mapped with the service defaults) once the grains answer.</summary>
public static class HealthEndpoints
{
    public static IServiceCollection AddCatalogHealthChecks(this IServiceCollection services)
    {
        services.AddHealthChecks().AddCheck<GrainsReadyCheck>("grains", tags: ["ready"]);
        return services;
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
