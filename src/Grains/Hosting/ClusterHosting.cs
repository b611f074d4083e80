using System.ComponentModel.DataAnnotations;
using System.Net;
using Catalogs.Grains.Storage;
using Catalogs.Shards.Postgres;
using Catalogs.Shards.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Orleans.Configuration;
using Orleans.Storage;
using StackExchange.Redis;

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
        // A silo holds catalogs, shards and their copies: thousands of grains, not the million the directory
        // cache is sized for by default (its table is allocated up front: ~9 MiB per silo).
        silo.Configure<GrainDirectoryOptions>(o => o.CacheSize = deployment.DirectoryCacheSize);
        // Opening a big shard (a failover, a move) decodes its snapshot and reconciles its saved graph: on a busy
        // silo that takes minutes, and an activation cancelled for its time would only start over.
        silo.Configure<GrainCollectionOptions>(o => o.ActivationTimeout = TimeSpan.Parse(CallTimeouts.Long));
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
        silo.Services.AddSingleton(deployment);
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, DependencyGate>();
        AwaitDependencies(silo.Services);
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
        client.Services.AddSingleton<IClientConnectionRetryFilter, ClusterConnectionRetry>();
        client.Services.AddSingleton<ILifecycleParticipant<IClusterClientLifecycle>, ClusterConnected>();
        AwaitDependencies(client.Services);
        return client;
    }

    /// <summary>The host serves <c>/healthz</c> and <c>/readyz</c> while Orleans starts (its services start together,
    /// not one after the other), and readiness says what the start still waits for.</summary>
    static void AwaitDependencies(IServiceCollection services)
    {
        services.Configure<HostOptions>(o => o.ServicesStartConcurrently = true);
        services.TryAddSingleton<StartupWaits>();
        services.AddHealthChecks().AddCheck<StartupWaitsCheck>("dependencies", tags: ["ready"]);
    }

    /// <summary>Holds the silo's start until Redis answers and the PostgreSQL schema is up to date, before
    /// membership or any grain runs. An unreachable server is logged with the reason, shown by <c>/readyz</c> and
    /// retried: never a crash loop without a message.</summary>
    sealed class DependencyGate(DeploymentOptions deployment, NpgsqlDataSource dataSource, StartupWaits waits,
        ILogger<DependencyGate> logger) : ILifecycleParticipant<ISiloLifecycle>
    {
        public void Participate(ISiloLifecycle lifecycle) =>
            lifecycle.Subscribe(nameof(DependencyGate), ServiceLifecycleStage.RuntimeInitialize, OpenAsync);

        async Task OpenAsync(CancellationToken cancellationToken)
        {
            // Named by host and port only: connection strings may carry passwords, and /readyz shows the reason.
            var redisOptions = ConfigurationOptions.Parse(deployment.Redis!);
            var postgres = new NpgsqlConnectionStringBuilder(dataSource.ConnectionString);
            await UntilReachedAsync("Redis", $"Redis (membership) at {string.Join(", ", redisOptions.EndPoints)}",
                async () =>
                {
                    var options = redisOptions.Clone();
                    options.ConnectTimeout = 2_000;
                    await using var redis = await ConnectionMultiplexer.ConnectAsync(options);
                    await redis.GetDatabase().PingAsync();
                    return "answers";
                }, ex => ex is RedisException, cancellationToken);
            await UntilReachedAsync("PostgreSQL", $"PostgreSQL at {postgres.Host}:{postgres.Port}",
                async () =>
                {
                    int applied = await PostgresSchema.MigrateAsync(dataSource, cancellationToken);
                    return $"schema at version {PostgresSchema.LatestVersion} ({applied} migrations applied now)";
                }, ex => ex is NpgsqlException, cancellationToken);
        }

        async Task UntilReachedAsync(string dependency, string what, Func<Task<string>> reach,
            Func<Exception, bool> unreachable, CancellationToken cancellationToken)
        {
            for (int attempt = 1; ; attempt++)
            {
                try
                {
                    var state = await reach();
                    waits.Reached(dependency);
                    logger.LogInformation("{What}: {State}", what, state);
                    return;
                }
                catch (Exception ex) when (unreachable(ex) && !cancellationToken.IsCancellationRequested)
                {
                    var error = ex.Message.Split(". ")[0]; // Redis goes on with advice on its own options
                    waits.Waiting(dependency, $"{what} cannot be reached: {error}");
                    logger.LogError("{What} cannot be reached (attempt {Attempt}): {Error}; retrying", what, attempt,
                        error);
                    await Task.Delay(TimeSpan.FromSeconds(Math.Min(10, attempt)), cancellationToken);
                }
            }
        }
    }

    /// <summary>A client whose cluster cannot be reached (Redis down, no silo yet) keeps trying, says why in its
    /// log and in <c>/readyz</c>, and answers 503 meanwhile.</summary>
    sealed class ClusterConnectionRetry(StartupWaits waits, ILogger<ClusterConnectionRetry> logger)
        : IClientConnectionRetryFilter
    {
        int attempt;

        public async Task<bool> ShouldRetryConnectionAttempt(Exception exception, CancellationToken cancellationToken)
        {
            int n = Interlocked.Increment(ref attempt);
            var error = exception.Message.Split(". ")[0]; // Redis goes on with advice on its own options
            waits.Waiting(StartupWaits.Cluster, error);
            logger.LogError("The cluster cannot be reached (attempt {Attempt}): {Error}; retrying", n, error);
            await Task.Delay(TimeSpan.FromSeconds(Math.Min(5, n)), cancellationToken);
            return !cancellationToken.IsCancellationRequested;
        }
    }

    /// <summary>Marks the client connected once its start completes.</summary>
    sealed class ClusterConnected(StartupWaits waits) : ILifecycleParticipant<IClusterClientLifecycle>
    {
        public void Participate(IClusterClientLifecycle lifecycle) =>
            lifecycle.Subscribe(nameof(ClusterConnected), ServiceLifecycleStage.Active, _ =>
            {
                waits.Reached(StartupWaits.Cluster);
                return Task.CompletedTask;
            });
    }
}
