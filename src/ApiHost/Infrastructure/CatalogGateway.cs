using Catalogs.ApiHost.Access;
using Catalogs.Grains;
using Catalogs.Grains.Hosting;
using Microsoft.Extensions.Options;

namespace Catalogs.ApiHost.Infrastructure;

/// <summary>Routes a request to the grains of the serving tenant's catalog (the tenant is part of every grain
/// key), and retries the idempotent ones through a silo's failure.</summary>
public sealed class CatalogGateway(IGrainFactory grains, StartupWaits waits, IOptions<ApiOptions> options,
    IHttpContextAccessor http, SiloDeathWatch deaths, ILogger<CatalogGateway> logger)
{
    /// <summary>The tenant of the request's key; outside a request (the demo seeder), the configured one.</summary>
    public string Tenant => http.HttpContext is { } context
        ? Callers.TenantOf(context.User) ?? throw CatalogRequestException.NotFound("This key belongs to no tenant.")
        : options.Value.Tenant;

    public ICatalogGrain Catalog(string name)
    {
        RequestValidator.CatalogNameIsValid(name);
        waits.ThrowIfNotConnected();
        return grains.GetGrain<ICatalogGrain>($"{Tenant}/{name}");
    }

    public ITenantGrain TenantGrain
    {
        get
        {
            waits.ThrowIfNotConnected();
            return grains.GetGrain<ITenantGrain>(Tenant);
        }
    }

    /// <summary>Runs a call that may safely run twice (a search, a read, an upsert by id with the same body),
    /// again and again while the cluster answers "unavailable", within <see cref="ApiOptions.RetryBudget"/>: a
    /// shopper does not see one silo's death. An attempt still out when membership declares a silo dead is sent
    /// again rather than left to wait for the response timeout. Calls that are not idempotent never come
    /// here.</summary>
    public async Task<T> Idempotent<T>(Func<Task<T>> call, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + options.Value.RetryBudget;
        for (int attempt = 1; ; attempt++)
        {
            var abandon = deaths.NextDeath;
            var sent = call();
            try
            {
                return await sent.WaitAsync(abandon);
            }
            catch (OperationCanceledException) when (abandon.IsCancellationRequested
                && !cancellationToken.IsCancellationRequested && DateTime.UtcNow < deadline)
            {
                // A silo died while this call was out: its answer may never come. Sent again at once.
                sent.Ignore();
                logger.LogInformation("Attempt {Attempt} was in flight when a silo died; sending it again", attempt);
            }
            catch (Exception ex) when (Unavailability.IsTransient(ex) && !cancellationToken.IsCancellationRequested)
            {
                var delay = TimeSpan.FromMilliseconds(Math.Min(1000, 50 * (1 << Math.Min(attempt, 5))) *
                    (0.5 + Random.Shared.NextDouble()));
                if (DateTime.UtcNow + delay >= deadline) throw;
                logger.LogDebug("Attempt {Attempt} found part of the cluster unavailable ({Error}); retrying", attempt,
                    ex.Message);
                await Task.Delay(delay, cancellationToken);
            }
        }
    }

    public Task Idempotent(Func<Task> call, CancellationToken cancellationToken) =>
        Idempotent(async () =>
        {
            await call();
            return true;
        }, cancellationToken);
}
