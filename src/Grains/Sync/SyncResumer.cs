using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Catalogs.Grains.Sync;

/// <summary>
/// Once the silo is up, activates every shard bound to Matching Engine, so a backlog left by a restart drains
/// without waiting for traffic to wake its shard. Activation is idempotent cluster-wide, so every silo may do it.
/// </summary>
sealed class SyncResumer(IGrainFactory grains, IOptions<CatalogsOptions> options, ILogger<SyncResumer> logger)
    : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(SyncResumer), ServiceLifecycleStage.Active, OnStart);

    Task OnStart(CancellationToken cancellationToken)
    {
        // in the background: start-up does not wait for shards to load
        _ = Task.Run(ResumeAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    async Task ResumeAsync()
    {
        var root = Path.Combine(Path.GetFullPath(options.Value.DataPath), "shards");
        if (!Directory.Exists(root)) return;
        foreach (var file in Directory.EnumerateFiles(root, "sync.json", SearchOption.AllDirectories))
        {
            // shards/{tenant}/{catalog}/{incarnation}/{shard}/sync.json → the shard grain's key.
            var key = Path.GetRelativePath(root, Path.GetDirectoryName(file)!).Replace(Path.DirectorySeparatorChar,
                '/');
            try
            {
                var stats = await grains.GetGrain<IShardGrain>(key).GetStats();
                if (stats.Sync is { Backlog: > 0 } s) logger.LogInformation("Shard {Shard} resumes syncing {Backlog} " +
                    "changes to {Index}", key, s.Backlog, s.Index);
            }
            catch (Exception ex)
            {
                logger.LogWarning(ex, "Shard {Shard} could not be resumed", key);
            }
        }
    }
}
