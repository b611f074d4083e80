using System.Net;
using System.Net.Sockets;
using Catalogs.Tests;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Catalogs.ApiHost.Tests;

/// <summary>The real ApiHost with its in-process silo and the real model, on a fresh data folder and free ports.
/// Image URLs may name the tests' loopback image servers (a setting operators use for internal image hosts).</summary>
public class ApiFactory : WebApplicationFactory<Program>
{
    public string DataPath { get; init; } = TestPaths.NewTempDirectory("api");

    public int SiloPort { get; } = FreePort();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseSetting("Catalogs:DataPath", DataPath);
        builder.UseSetting("Catalogs:ModelPaths:0", TestPaths.ModelsDirectory);
        builder.UseSetting("Demo:Enabled", "false");
        builder.UseSetting("Orleans:SiloPort", SiloPort.ToString());
        builder.UseSetting("Orleans:GatewayPort", FreePort().ToString());
        Configure(builder);
    }

    protected virtual void Configure(IWebHostBuilder builder) =>
        builder.UseSetting("Api:ImageFetch:AllowedNetworks:0", "127.0.0.0/8");

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

[CollectionDefinition(Name)]
public sealed class ApiCollection : ICollectionFixture<ApiFactory>
{
    public const string Name = "api";
}
