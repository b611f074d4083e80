using Microsoft.Extensions.Configuration;
using Orleans.TestingHost;

namespace Catalogs.Grains.Tests;

/// <summary>An in-process cluster of real silos with the Catalogs services and file storage, configured by
/// <paramref name="settings"/> (the same keys as appsettings).</summary>
static class CatalogTestCluster
{
    public static async Task<InProcessTestCluster> StartAsync(Dictionary<string, string?> settings, int silos)
    {
        var builder = new InProcessTestClusterBuilder((short)silos);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.Services.AddCatalogsSiloServices(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
            silo.AddCatalogsFileStorage();
        });
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return cluster;
    }
}
