using Catalogs.Encoders;
using Catalogs.Grains.Encoders;
using Catalogs.Grains.Storage;
using Catalogs.Shards.Export;
using Catalogs.Shards.Storage;
using Catalogs.VertexAI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Storage;

namespace Catalogs.Grains;

public static class CatalogsHosting
{
    /// <summary>Grain storage provider name for catalog configs and tenant lists.</summary>
    public const string StorageName = "catalogs";

    /// <summary>The silo's services: options (validated at start-up), model resolution and encoders.</summary>
    public static IServiceCollection AddCatalogsSiloServices(this IServiceCollection services,
        IConfiguration configuration)
    {
        services.AddOptions<CatalogsOptions>().Bind(configuration.GetSection(CatalogsOptions.Section))
            .ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.AddHttpClient("models", c => c.Timeout = TimeSpan.FromMinutes(5));
        services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<CatalogsOptions>>().Value;
            return new ModelResolver(sp.GetRequiredService<IHttpClientFactory>().CreateClient("models"),
                new ModelResolverOptions(SearchPaths: o.ModelPaths), sp.GetRequiredService<ILogger<ModelResolver>>());
        });
        services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<CatalogsOptions>>().Value;
            return new EncoderRegistry(new BatchingOptions(o.MaxEncoderBatch,
                TimeSpan.FromMilliseconds(o.EncoderBatchWaitMilliseconds)));
        });
        services.AddSingleton<EncoderService>();
        services.AddVertexClients(configuration);
        services.AddSingleton<IShardStoreProvider>(sp =>
            new LocalShardStoreProvider(sp.GetRequiredService<IOptions<CatalogsOptions>>().Value.DataPath));
        services.AddSingleton<ShardExporter>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, Sync.SyncResumer>();
        services.AddPlacementDirector<Placement.ShardCopyPlacement, Placement.ShardCopyPlacementDirector>();
        services.AddSingleton<Placement.ShardRebalancer>();
        services.AddSingleton<Shards.ShardHandover>();
        return services;
    }

    /// <summary>Embedded mode: grain state as files under the data path.</summary>
    public static ISiloBuilder AddCatalogsFileStorage(this ISiloBuilder silo)
    {
        silo.Services.AddKeyedSingleton<IGrainStorage>(StorageName, (sp, _) =>
            new FileGrainStorage(Path.GetFullPath(sp.GetRequiredService<IOptions<CatalogsOptions>>().Value.DataPath)));
        return silo;
    }
}
