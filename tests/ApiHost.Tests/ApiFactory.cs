using System.Net;
using System.Net.Sockets;
using Catalogs.Tests;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Catalogs.ApiHost.Tests;

/// <summary>The real ApiHost with its in-process silo and the real model, on a fresh data folder and free ports.</summary>
public sealed class ApiFactory : WebApplicationFactory<Program>
{
    public string DataPath { get; } = TestPaths.NewTempDirectory("api");

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseSetting("Catalogs:DataPath", DataPath);
        builder.UseSetting("Catalogs:ModelPaths:0", TestPaths.ModelsDirectory);
        builder.UseSetting("Demo:Enabled", "false");
        builder.UseSetting("Orleans:SiloPort", FreePort().ToString());
        builder.UseSetting("Orleans:GatewayPort", FreePort().ToString());
    }

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
