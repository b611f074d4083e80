using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Catalogs.Cluster.Tests;

/// <summary>A real redis-server of its own (Debian's <c>redis-server</c>, which <c>.ci/run</c> installs) on a free
/// loopback port, persisting to an append-only file as a production Redis for membership must (a restart keeps the
/// membership table); killed on dispose.</summary>
public sealed class RedisServer : IDisposable
{
    readonly string directory;
    Process? process;

    public int Port { get; }

    public string ConnectionString => $"127.0.0.1:{Port}";

    RedisServer(string directory, int port) => (this.directory, Port) = (directory, port);

    public static async Task<RedisServer> StartAsync()
    {
        if (!File.Exists("/usr/bin/redis-server"))
            throw new InvalidOperationException("redis-server is not installed: apt-get install -y redis-server " +
                "(.ci/run does).");
        var directory = Path.Combine(Path.GetTempPath(), "catalogs-redis-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(directory);
        var redis = new RedisServer(directory, FreePort());
        await redis.StartAgainAsync();
        return redis;
    }

    /// <summary>Starts the server (again) on its port, with what it had written to its append-only file.</summary>
    public async Task StartAgainAsync()
    {
        var info = new ProcessStartInfo("/usr/bin/redis-server")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = directory,
        };
        foreach (var a in new[] { "--port", Port.ToString(), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "yes", "--appendfsync", "always", "--dir", directory })
            info.ArgumentList.Add(a);
        process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        for (int i = 0; i < 100; i++)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException) { await Task.Delay(50); }
        }
        Stop();
        throw new TimeoutException("redis-server did not start.");
    }

    /// <summary>Kills the server: its clients see connections refused.</summary>
    public void Stop()
    {
        if (process is { HasExited: false })
        {
            process.Kill();
            process.WaitForExit();
        }
        process?.Dispose();
        process = null;
    }

    static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        Stop();
        try { Directory.Delete(directory, recursive: true); } catch (IOException) { }
    }
}
