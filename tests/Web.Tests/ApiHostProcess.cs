using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Catalogs.Tests;

namespace Catalogs.Web.Tests;

/// <summary>The real ApiHost binary on a free loopback port (Development: requests without a key act as tenant
/// <c>default</c>), with a fresh data folder and the real model; killed on dispose.</summary>
public sealed class ApiHostProcess : IAsyncDisposable
{
    readonly Process process;

    public Uri Address { get; }
    public HttpClient Http { get; }
    public string DataPath { get; }

    ApiHostProcess(Process process, Uri address, string dataPath) =>
        (this.process, Address, Http, DataPath) = (process, address, new HttpClient
        {
            BaseAddress = address,
            Timeout = TimeSpan.FromMinutes(2)
        }, dataPath);

    public static async Task<ApiHostProcess> StartAsync()
    {
        var configuration = AppContext.BaseDirectory.Contains("/Release/") ? "Release" : "Debug";
        var dll = Path.Combine(TestPaths.RepoRoot, "src", "ApiHost", "bin", configuration, "net10.0", "linux-x64",
            "Catalogs.ApiHost.dll");
        int port = FreePort();
        var data = TestPaths.NewTempDirectory("web");
        var info = new ProcessStartInfo("dotnet", [dll])
        {
            WorkingDirectory = data,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Development";
        info.Environment["Urls"] = $"http://127.0.0.1:{port}";
        info.Environment["Catalogs__DataPath"] = data;
        info.Environment["Catalogs__ModelPaths__0"] = TestPaths.ModelsDirectory;
        info.Environment["Demo__Enabled"] = "false";
        info.Environment["Orleans__SiloPort"] = FreePort().ToString();
        info.Environment["Orleans__GatewayPort"] = FreePort().ToString();
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var host = new ApiHostProcess(process, new Uri($"http://127.0.0.1:{port}"), data);
        for (int i = 0; i < 600; i++)
        {
            try
            {
                if ((await host.Http.GetAsync("/readyz")).IsSuccessStatusCode) return host;
            }
            catch (HttpRequestException) { }
            await Task.Delay(100);
        }
        await host.DisposeAsync();
        throw new TimeoutException("ApiHost did not become ready.");
    }

    static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        if (!process.HasExited) process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync();
        process.Dispose();
    }
}
