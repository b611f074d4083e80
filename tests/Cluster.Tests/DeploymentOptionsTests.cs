using System.ComponentModel.DataAnnotations;
using Catalogs.Grains.Hosting;
using Microsoft.Extensions.Configuration;

namespace Catalogs.Cluster.Tests;

/// <summary>The one switch between embedded and cluster, read and checked before anything starts.</summary>
public sealed class DeploymentOptionsTests
{
    static DeploymentOptions Read(Dictionary<string, string?> settings) =>
        ClusterHosting.Deployment(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());

    [Fact]
    public void Embedded_is_the_default_and_needs_nothing()
    {
        Assert.Equal(HostingMode.Embedded, Read([]).Mode);
    }

    [Fact]
    public void Cluster_mode_without_its_stores_stops_with_the_setting_to_give()
    {
        var noRedis = Assert.Throws<ValidationException>(() => Read(new()
        {
            ["Cluster:Mode"] = "Cluster",
            ["Cluster:Postgres"] = "Host=127.0.0.1"
        }));
        Assert.Contains("Cluster:Redis", noRedis.Message);
        var noPostgres = Assert.Throws<ValidationException>(() => Read(new()
        {
            ["Cluster:Mode"] = "cluster",
            ["Cluster:Redis"] = "127.0.0.1:6379"
        }));
        Assert.Contains("Cluster:Postgres", noPostgres.Message);
        var ok = Read(new()
        {
            ["Cluster:Mode"] = "Cluster",
            ["Cluster:Redis"] = "127.0.0.1:6379",
            ["Cluster:Postgres"] = "Host=127.0.0.1",
            ["Cluster:ResponseTimeout"] = "00:00:03",
        });
        Assert.Equal(HostingMode.Cluster, ok.Mode);
        Assert.Equal(TimeSpan.FromSeconds(3), ok.ResponseTimeout);
    }
}
