using System.Collections.Concurrent;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Catalogs.Grains.Hosting;

/// <summary>What this process's start is still waiting for (Redis, PostgreSQL, the cluster) and why, so that
/// <c>/readyz</c> answers "not ready: PostgreSQL at … refuses connections" instead of nothing at all.</summary>
public sealed class StartupWaits
{
    /// <summary>A client's connection to its cluster.</summary>
    public const string Cluster = "cluster";

    readonly ConcurrentDictionary<string, string> pending = new();

    public void Waiting(string dependency, string reason) => pending[dependency] = reason;

    public void Reached(string dependency) => pending.TryRemove(dependency, out _);

    public IReadOnlyDictionary<string, string> Pending => pending;

    /// <summary>Refuses a grain call with 503 before the client has reached its cluster (Orleans would not even
    /// know the grain types yet).</summary>
    public void ThrowIfNotConnected()
    {
        if (pending.TryGetValue(Cluster, out var reason))
            throw new CatalogRequestException(CatalogError.Unavailable,
                $"This API host has not reached its cluster yet ({reason}); retry shortly.");
    }
}

/// <summary>Ready only when start-up waits for nothing; the description names each missing dependency.</summary>
public sealed class StartupWaitsCheck(StartupWaits waits) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken)
    {
        var pending = waits.Pending;
        return Task.FromResult(pending.Count == 0
            ? HealthCheckResult.Healthy("Every dependency answered.")
            : HealthCheckResult.Unhealthy(string.Join("; ", pending.Select(p => $"waiting for {p.Key}: {p.Value}"))));
    }
}
