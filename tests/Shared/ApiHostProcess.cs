using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Catalogs.Tests;

/// <summary>The real ApiHost binary as a process on loopback: Development (requests without a key act as tenant
/// <c>default</c>), demo off, its own data folder and ports, the real models. Killed on dispose. Used by the tests
/// that need a real server (the browser, kill -9) and by the benchmarks.</summary>
public sealed class ApiHostProcess : IAsyncDisposable
{
    readonly Process process;

    public Uri Address { get; }
    public HttpClient Http { get; }
    public string DataPath { get; }
    public int ProcessId => process.Id;
    public bool HasExited => process.HasExited;

    ApiHostProcess(Process process, Uri address, string dataPath)
    {
        (this.process, Address, DataPath) = (process, address, dataPath);
        Http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 })
        {
            BaseAddress = address,
            Timeout = TimeSpan.FromMinutes(5),
        };
    }

    /// <summary>Starts the binary of <paramref name="configuration"/> (default: the caller's own) and waits until
    /// <c>/readyz</c> answers. <paramref name="settings"/> are extra environment variables; <paramref name="port"/>
    /// lets a restarted process answer where the first did; <paramref name="errors"/> receives its stderr.</summary>
    public static async Task<ApiHostProcess> StartAsync(string dataPath, int? port = null,
        IReadOnlyDictionary<string, string>? settings = null, Action<string>? errors = null,
        string? configuration = null, string? repoRoot = null)
    {
        repoRoot ??= TestPaths.RepoRoot;
        configuration ??= AppContext.BaseDirectory.Contains("/Release/") ? "Release" : "Debug";
        var dll = Path.Combine(repoRoot, "src", "ApiHost", "bin", configuration, "net10.0", "linux-x64",
            "Catalogs.ApiHost.dll");
        if (!File.Exists(dll)) throw new FileNotFoundException($"Build the ApiHost first ({dll}).");
        var address = new Uri($"http://127.0.0.1:{port ?? FreePort()}");
        var info = new ProcessStartInfo("dotnet", [dll])
        {
            WorkingDirectory = repoRoot,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Development";
        info.Environment["Urls"] = address.ToString().TrimEnd('/');
        info.Environment["Catalogs__DataPath"] = dataPath;
        info.Environment["Catalogs__ModelPaths__0"] =
            Path.GetFullPath(Path.Combine(repoRoot, "..", "shared", "models"));
        info.Environment["Demo__Enabled"] = "false";
        info.Environment["Orleans__SiloPort"] = FreePort().ToString();
        info.Environment["Orleans__GatewayPort"] = FreePort().ToString();
        foreach (var (key, value) in settings ?? new Dictionary<string, string>()) info.Environment[key] = value;
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) => { if (e.Data is { Length: > 0 }) errors?.Invoke(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var host = new ApiHostProcess(process, address, dataPath);
        for (int i = 0; i < 900 && !process.HasExited; i++)
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

    /// <summary>SIGKILL: no shutdown, no flush.</summary>
    public void Kill()
    {
        if (!process.HasExited) process.Kill(entireProcessTree: true);
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        Kill();
        await process.WaitForExitAsync();
        process.Dispose();
    }
}
