using Catalogs.Grains;
using Catalogs.Grains.Hosting;
using Microsoft.Extensions.Options;

namespace Catalogs.ApiHost.Infrastructure;

/// <summary>
/// Tells a client when membership declares a silo dead. A call that was in flight to a silo killed without a word
/// gets no answer and would wait out the response timeout; an idempotent call started before a death is abandoned
/// and sent again instead, so it waits for the death to be noticed (a few probe periods), not the timeout.
/// Embedded mode (one silo, in this process) watches nothing.
/// </summary>
public sealed class SiloDeathWatch(IGrainFactory grains, StartupWaits waits, IOptions<ApiOptions> options,
    ILogger<SiloDeathWatch> logger) : BackgroundService
{
    CancellationTokenSource nextDeath = new();
    HashSet<string>? dead;

    /// <summary>A token that is cancelled when a silo is next declared dead.</summary>
    public CancellationToken NextDeath => Volatile.Read(ref nextDeath).Token;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.SiloWatchInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            if (waits.Pending.ContainsKey(StartupWaits.Cluster)) continue; // grain types are not known yet
            try
            {
                var membership = grains.GetGrain<IMembershipGrain>(0);
                // A poll that went to a dying gateway must not hold up the next one.
                var view = await membership.GetDeadSilos(stoppingToken).WaitAsync(options.Value.SiloWatchInterval * 4,
                    stoppingToken);
                Observe(view);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                logger.LogDebug("Membership could not be read: {Error}", ex.Message);
            }
        }
    }

    internal void Observe(DeadSilos view)
    {
        if (dead is null)
        {
            dead = [.. view.Silos]; // those dead before this host watched: no call of ours is waiting on them
            return;
        }
        var fresh = view.Silos.Where(dead.Add).ToList();
        if (fresh.Count == 0) return;
        logger.LogWarning("Silo {Silos} declared dead (membership version {Version}): calls in flight are sent again",
            string.Join(", ", fresh), view.Version);
        // Not disposed: a caller may still be registering on its token.
        Interlocked.Exchange(ref nextDeath, new CancellationTokenSource()).Cancel();
    }
}
