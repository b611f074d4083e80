using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Catalogs.Tests;

/// <summary>
/// A real PostgreSQL server of its own (Debian's <c>postgresql</c> package, which <c>.ci/run</c> installs): a fresh
/// cluster in a temporary directory, on a free loopback port, trust authentication, stopped and deleted on
/// dispose. PostgreSQL refuses to run as root, so under root it runs as the package's <c>postgres</c> user.
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    readonly string directory;
    readonly string bin;

    public int Port { get; }

    /// <summary>A connection string for the server's superuser and <paramref name="database"/>.</summary>
    public string ConnectionString(string database = "postgres") =>
        $"Host=127.0.0.1;Port={Port};Username=postgres;Database={database};Pooling=true;Timeout=10";

    PostgresServer(string directory, string bin, int port) => (this.directory, this.bin, Port) = (directory, bin, port);

    public static async Task<PostgresServer> StartAsync()
    {
        var bin = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin"))
                .Where(d => File.Exists(Path.Combine(d, "initdb"))).OrderDescending().FirstOrDefault()
            : null;
        if (bin is null)
            throw new InvalidOperationException("PostgreSQL is not installed: apt-get install -y postgresql " +
                "(.ci/run does).");
        var directory = Path.Combine(Path.GetTempPath(), "catalogs-pg-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(directory);
        if (Environment.UserName == "root")
            await RunAsync("chown", ["postgres:postgres", directory], asPostgres: false);
        int port = FreePort();
        var data = Path.Combine(directory, "data");
        await RunAsync(Path.Combine(bin, "initdb"),
            ["-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync", "-N"]);
        await RunAsync(Path.Combine(bin, "pg_ctl"), ["-D", data, "-l", Path.Combine(directory, "server.log"), "-w",
            "-o", $"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200",
            "start"]);
        return new PostgresServer(directory, bin, port);
    }

    /// <summary>Stops the server (fast shutdown: open connections are cut) and starts it again on the same port and
    /// data: what a database restart looks like to its clients.</summary>
    public async Task RestartAsync(TimeSpan downtime)
    {
        await StopAsync();
        await Task.Delay(downtime);
        await StartAgainAsync();
    }

    /// <summary>Stops the server (fast shutdown); <see cref="StartAgainAsync"/> brings it back.</summary>
    public Task StopAsync() =>
        RunAsync(Path.Combine(bin, "pg_ctl"), ["-D", Path.Combine(directory, "data"), "-m", "fast", "-w", "stop"]);

    public Task StartAgainAsync() =>
        RunAsync(Path.Combine(bin, "pg_ctl"), ["-D", Path.Combine(directory, "data"), "-l",
            Path.Combine(directory, "server.log"), "-w", "-o",
            $"-p {Port} -k {directory} -c listen_addresses=127.0.0.1", "start"]);

    static async Task RunAsync(string file, string[] arguments, bool asPostgres = true)
    {
        var runAs = asPostgres && Environment.UserName == "root";
        var info = new ProcessStartInfo(runAs ? "runuser" : file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        if (runAs) foreach (var a in new[] { "-u", "postgres", "--", file }) info.ArgumentList.Add(a);
        foreach (var a in arguments) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{Path.GetFileName(file)} failed ({process.ExitCode}): " +
                $"{await error}{await output}");
    }

    static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await RunAsync(Path.Combine(bin, "pg_ctl"), ["-D", Path.Combine(directory, "data"), "-m", "immediate",
                "-w", "stop"]);
        }
        finally
        {
            try { Directory.Delete(directory, recursive: true); } catch (IOException) { }
        }
    }
}
