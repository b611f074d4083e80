using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Catalogs.Cluster.Tests;

/// <summary>A real redis-server of its own (Debian's <c>redis-server</c>, which <c>.ci/run</c> installs) on a free
/// loopback port, without persistence; killed on dispose.</summary>
public sealed class RedisServer : IDisposable
{
    readonly Process process;
    readonly string directory;

    public int Port { get; }

    public string ConnectionString => $"127.0.0.1:{Port}";

    RedisServer(Process process, string directory, int port) => (this.process, this.directory, Port) =
        (process, directory, port);

    public static async Task<RedisServer> StartAsync()
    {
        if (!File.Exists("/usr/bin/redis-server"))
            throw new InvalidOperationException("redis-server is not installed: apt-get install -y redis-server " +
                "(.ci/run does).");
        var directory = Path.Combine(Path.GetTempPath(), "catalogs-redis-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(directory);
        int port = FreePort();
        var info = new ProcessStartInfo("/usr/bin/redis-server")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = directory,
        };
        foreach (var a in new[] { "--port", port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", directory })
            info.ArgumentList.Add(a);
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        for (int i = 0; i < 100; i++)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                return new RedisServer(process, directory, port);
            }
            catch (SocketException) { await Task.Delay(50); }
        }
        process.Kill();
        throw new TimeoutException("redis-server did not start.");
    }

    static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        if (!process.HasExited) process.Kill();
        process.Dispose();
        try { Directory.Delete(directory, recursive: true); } catch (IOException) { }
    }
}
