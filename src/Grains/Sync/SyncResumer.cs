using Catalogs.Shards.Storage;
using Catalogs.Shards.Sync;
using Microsoft.Extensions.Logging;

namespace Catalogs.Grains.Sync;

/// <summary>
/// Once the silo is up, activates every shard bound to Matching Engine, so a backlog left by a restart drains
/// without waiting for traffic to wake its shard. Activation is idempotent cluster-wide, so every silo may do it.
/// </summary>
sealed class SyncResumer(IGrainFactory grains, IShardStoreProvider stores, ILogger<SyncResumer> logger)
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
        try
        {
            await foreach (var key in stores.ShardsWithMetadataAsync(ShardSync.MetadataName, CancellationToken.None))
            {
                try
                {
                    var stats = await grains.GetGrain<IShardGrain>(key).GetStats();
                    if (stats.Sync is { Backlog: > 0 } s)
                        logger.LogInformation("Shard {Shard} resumes syncing {Backlog} changes to {Index}", key,
                            s.Backlog, s.Index);
                }
                catch (Exception ex)
                {
                    logger.LogWarning(ex, "Shard {Shard} could not be resumed", key);
                }
            }
        }
        catch (Exception ex)
        {
            logger.LogWarning(ex, "The shards bound to Matching Engine could not be listed");
        }
    }
}
