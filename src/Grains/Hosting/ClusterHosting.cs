using System.ComponentModel.DataAnnotations;
using System.Net;
using Catalogs.Grains.Storage;
using Catalogs.Shards.Postgres;
using Catalogs.Shards.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Orleans.Configuration;
using Orleans.Storage;

namespace Catalogs.Grains.Hosting;

/// <summary>Makes a silo or a client embedded or a cluster member, as <see cref="DeploymentOptions"/> says.</summary>
public static class ClusterHosting
{
    /// <summary>The deployment options, validated now: a process configured wrongly stops here with the
    /// reason.</summary>
    public static DeploymentOptions Deployment(IConfiguration configuration)
    {
        var options = configuration.GetSection(DeploymentOptions.Section).Get<DeploymentOptions>() ?? new();
        Validator.ValidateObject(options, new ValidationContext(options), validateAllProperties: true);
        return options;
    }

    /// <summary>Embedded: localhost clustering and files under the data path. Cluster: Redis membership,
    /// PostgreSQL grain state and shard stores (schema migrated at start-up), fast failure detection.</summary>
    public static ISiloBuilder UseCatalogsHosting(this ISiloBuilder silo, IConfiguration configuration)
    {
        var deployment = Deployment(configuration);
        var ports = configuration.GetSection("Orleans");
        int siloPort = ports.GetValue("SiloPort", 11111), gatewayPort = ports.GetValue("GatewayPort", 30000);
        if (deployment.Mode == HostingMode.Embedded)
        {
            silo.UseLocalhostClustering(siloPort, gatewayPort);
            return silo.AddCatalogsFileStorage();
        }
        silo.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (deployment.ClusterId, deployment.ServiceId));
        silo.UseRedisClustering(deployment.Redis!);
        silo.ConfigureEndpoints(AddressOf(deployment.AdvertisedAddress), siloPort, gatewayPort,
            listenOnAnyHostAddress: !IPAddress.IsLoopback(AddressOf(deployment.AdvertisedAddress)));
        silo.Configure<ClusterMembershipOptions>(o =>
        {
            o.ProbeTimeout = deployment.ProbeTimeout;
            o.NumMissedProbesLimit = deployment.MissedProbesLimit;
            o.NumVotesForDeathDeclaration = 1;
            o.TableRefreshTimeout = deployment.ProbeTimeout * 2;
            // A silo joining ignores members that stopped refreshing their row this long ago (2 × the period):
            // after the whole cluster died, the first silo back joins in ~10 s, not after the default minute.
            o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(5);
        });
        silo.Configure<SiloMessagingOptions>(o => o.ResponseTimeout = deployment.ResponseTimeout);
        // After the endpoints above: the pod's address and name win.
        if (deployment.Kubernetes) silo.UseKubernetesHosting();
        silo.Services.AddSingleton(_ => NpgsqlDataSource.Create(deployment.Postgres!));
        silo.Services.AddSingleton<IShardStoreProvider>(sp =>
            new PostgresShardStoreProvider(sp.GetRequiredService<NpgsqlDataSource>()));
        silo.Services.AddKeyedSingleton<IGrainStorage>(CatalogsHosting.StorageName, (sp, _) =>
            new PostgresGrainStorage(sp.GetRequiredService<NpgsqlDataSource>()));
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, SchemaMigrator>();
        return silo;
    }

    /// <summary>An address, or a host name resolved to its first IPv4 address (a container's service name).</summary>
    static IPAddress AddressOf(string address) => IPAddress.TryParse(address, out var ip)
        ? ip
        : Dns.GetHostAddresses(address).First(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork);

    /// <summary>A client of the cluster (the API host in cluster mode).</summary>
    public static IClientBuilder UseCatalogsCluster(this IClientBuilder client, DeploymentOptions deployment)
    {
        client.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (deployment.ClusterId,
            deployment.ServiceId));
        client.UseRedisClustering(deployment.Redis!);
        client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = deployment.ResponseTimeout);
        // Silos that replaced every known gateway (a restart of the whole cluster) are found in seconds, not the
        // default minute.
        client.Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = TimeSpan.FromSeconds(5));
        return client;
    }

    /// <summary>Brings the PostgreSQL schema up to date before any grain runs. An unreachable database is reported
    /// and retried, never a crash loop without a reason.</summary>
    sealed class SchemaMigrator(NpgsqlDataSource dataSource, ILogger<SchemaMigrator> logger)
        : ILifecycleParticipant<ISiloLifecycle>
    {
        public void Participate(ISiloLifecycle lifecycle) =>
            lifecycle.Subscribe(nameof(SchemaMigrator), ServiceLifecycleStage.RuntimeInitialize, MigrateAsync);

        async Task MigrateAsync(CancellationToken cancellationToken)
        {
            for (int attempt = 1; ; attempt++)
            {
                try
                {
                    int applied = await PostgresSchema.MigrateAsync(dataSource, cancellationToken);
                    logger.LogInformation("PostgreSQL schema at version {Version} ({Applied} migrations applied now)",
                        PostgresSchema.LatestVersion, applied);
                    return;
                }
                catch (NpgsqlException ex) when (!cancellationToken.IsCancellationRequested)
                {
                    logger.LogError("PostgreSQL cannot be reached ({Attempt}): {Error}; retrying", attempt, ex.Message);
                    await Task.Delay(TimeSpan.FromSeconds(Math.Min(10, attempt)), cancellationToken);
                }
            }
        }
    }
}
