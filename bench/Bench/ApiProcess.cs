using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Catalogs.Bench;

/// <summary>The real ApiHost binary on loopback, with its own data folder and ports; killed on dispose.</summary>
sealed class ApiProcess : IAsyncDisposable
{
    readonly Process process;
    public HttpClient Http { get; }
    public string DataPath { get; }

    ApiProcess(Process process, HttpClient http, string dataPath) => (this.process, Http, DataPath) = (process, http,
        dataPath);

    /// <summary>The whole process's resident memory (VmRSS) and its anonymous (heap) and file-backed (mapped files,
    /// code) parts, in bytes; file-backed pages are page cache the kernel can reclaim.</summary>
    public (double Total, double Anonymous, double File) Resident()
    {
        var status = File.ReadLines($"/proc/{process.Id}/status").Select(l => l.Split(':', 2))
            .Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
        double Kib(string key) => long.Parse(status[key].Trim().Split(' ')[0]) * 1024.0;
        return (Kib("VmRSS"), Kib("RssAnon"), Kib("RssFile") + Kib("RssShmem"));
    }

    public static async Task<ApiProcess> StartAsync(string repoRoot, string configuration)
    {
        var dll = Path.Combine(repoRoot, "src", "ApiHost", "bin", configuration, "net10.0", "linux-x64",
            "Catalogs.ApiHost.dll");
        if (!File.Exists(dll)) throw new FileNotFoundException($"Build the ApiHost first ({dll}).");
        var data = Path.Combine(Path.GetTempPath(), "catalogs-bench", Guid.NewGuid().ToString("N")[..8]);
        int port = FreePort();
        var info = new ProcessStartInfo("dotnet",
            [dll])
        { WorkingDirectory = repoRoot, RedirectStandardOutput = true, RedirectStandardError = true };
        info.Environment["Urls"] = $"http://127.0.0.1:{port}";
        info.Environment["Catalogs__DataPath"] = data;
        info.Environment["Demo__Enabled"] = "false";
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Development"; // requests without a key
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        info.Environment["Orleans__SiloPort"] = FreePort().ToString();
        info.Environment["Orleans__GatewayPort"] = FreePort().ToString();
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) =>
            { if (e.Data is { Length: > 0 }) Console.Error.WriteLine("  [api] " + e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 256 };
        var http = new HttpClient(handler)
        {
            BaseAddress = new Uri($"http://127.0.0.1:{port}"),
            Timeout = TimeSpan.FromMinutes(5),
        };
        for (int i = 0; i < 600; i++)
        {
            try
            {
                if ((await http.GetAsync("/readyz")).IsSuccessStatusCode) return new ApiProcess(process, http, data);
            }
            catch (HttpRequestException) { }
            await Task.Delay(100);
        }
        process.Kill(true);
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
        try { Directory.Delete(DataPath, recursive: true); } catch (IOException) { }
    }
}
