using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Catalogs.Tests;

namespace Catalogs.Cluster.Tests;

/// <summary>
/// A whole cluster as plain processes on loopback: a Redis for membership, a PostgreSQL for state, silos and API
/// hosts running the real binaries in cluster mode. Each process logs to a file under <see cref="Directory"/>,
/// printed by <see cref="Logs"/> when a test needs to say why.
/// </summary>
public sealed class LocalCluster : IAsyncDisposable
{
    readonly List<Member> silos = [];
    readonly List<Member> apis = [];

    public RedisServer Redis { get; }
    public PostgresServer Postgres { get; }
    public string Directory { get; }

    LocalCluster(RedisServer redis, PostgresServer postgres, string directory) =>
        (Redis, Postgres, Directory) = (redis, postgres, directory);

    /// <summary>One process of the cluster.</summary>
    public sealed record Member(string Name, Process Process, string Log, int Port, HttpClient? Http)
    {
        /// <summary>A silo's silo-to-silo port (its address in grain placement: <c>S127.0.0.1:{port}:…</c>).</summary>
        public int SiloPort { get; init; }

        public bool Alive => !Process.HasExited;
    }

    public IReadOnlyList<Member> Silos => silos;

    public const string OperatorKey = "operator-key-of-the-cluster-tests-0123456789";

    public HttpClient Api(int i = 0) => apis[i].Http!;

    /// <summary>Starts the servers, <paramref name="silos"/> silos and <paramref name="apis"/> API hosts;
    /// <paramref name="apiSettings"/> are extra settings of the API hosts (environment-variable names).</summary>
    public static async Task<LocalCluster> StartAsync(int silos, int apis = 1,
        Dictionary<string, string>? apiSettings = null, Dictionary<string, string>? siloSettings = null)
    {
        var redis = await RedisServer.StartAsync();
        var postgres = await PostgresServer.StartAsync();
        var cluster = new LocalCluster(redis, postgres, TestPaths.NewTempDirectory("cluster"));
        try
        {
            cluster.siloSettings = siloSettings ?? [];
            for (int i = 0; i < silos; i++) await cluster.StartSiloAsync();
            for (int i = 0; i < apis; i++) await cluster.StartApiAsync(apiSettings);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    Dictionary<string, string> Common(string name) => new()
    {
        ["Cluster__Mode"] = "Cluster",
        ["Cluster__Redis"] = Redis.ConnectionString,
        ["Cluster__Postgres"] = Postgres.ConnectionString(),
        ["Catalogs__DataPath"] = Path.Combine(Directory, name),
        ["Logging__LogLevel__Default"] = "Warning",
        ["Logging__LogLevel__Catalogs"] = "Information",
        ["Logging__LogLevel__Orleans.Runtime.MembershipService"] = "Information",
        ["Logging__Console__FormatterName"] = "simple",
    };

    Dictionary<string, string> siloSettings = [];

    /// <summary>Starts a silo and waits until it is an active member (its <c>/readyz</c>), unless
    /// <paramref name="untilReady"/> is false.</summary>
    public async Task<Member> StartSiloAsync(bool untilReady = true)
    {
        var name = $"silo{silos.Count}";
        var env = Common(name);
        foreach (var (key, value) in siloSettings) env[key] = value;
        int siloPort = FreePort(), gatewayPort = FreePort(), httpPort = FreePort();
        env["Orleans__SiloPort"] = siloPort.ToString();
        env["Orleans__GatewayPort"] = gatewayPort.ToString();
        env["Urls"] = $"http://127.0.0.1:{httpPort}";
        var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}") };
        var member = Start(name, Binary("Silo", "Catalogs.Silo.dll"), env, gatewayPort, http) with
        { SiloPort = siloPort };
        silos.Add(member);
        if (untilReady) await WaitUntilAsync(member, async () => (await http.GetAsync("/readyz")).IsSuccessStatusCode);
        return member;
    }

    /// <summary>The silo whose address is <paramref name="siloAddress"/> (as shard stats name it).</summary>
    public Member SiloAt(string siloAddress) => silos.Single(s => siloAddress.Contains($":{s.SiloPort}:"));

    public async Task<Member> StartApiAsync(Dictionary<string, string>? settings = null, bool untilReady = true)
    {
        var name = $"api{apis.Count}";
        var env = Common(name);
        foreach (var (key, value) in settings ?? []) env[key] = value;
        int port = FreePort();
        env["Urls"] = $"http://127.0.0.1:{port}";
        env["Demo__Enabled"] = "false";
        env["Access__OperatorKey"] = OperatorKey;
        env["Access__AnonymousTenant"] = "default"; // the cluster tests' requests carry no key
        var http = new HttpClient
        {
            BaseAddress = new Uri($"http://127.0.0.1:{port}"),
            Timeout = TimeSpan.FromSeconds(60),
        };
        var member = Start(name, Binary("ApiHost", "Catalogs.ApiHost.dll"), env, port, http);
        apis.Add(member);
        if (untilReady) await WaitUntilAsync(member, async () => (await http.GetAsync("/readyz")).IsSuccessStatusCode);
        return member;
    }

    /// <summary>kill -9: no shutdown, no goodbye to the membership table.</summary>
    public void Kill(Member member) => member.Process.Kill(entireProcessTree: true);

    Member Start(string name, string dll, Dictionary<string, string> env, int port, HttpClient? http)
    {
        var log = Path.Combine(Directory, name + ".log");
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        info.ArgumentList.Add("exec");
        info.ArgumentList.Add(dll);
        foreach (var (key, value) in env) info.Environment[key] = value;
        var process = Process.Start(info)!;
        var writer = new StreamWriter(log) { AutoFlush = true };
        void Append(string? line)
        {
            if (line is null) return;
            lock (writer) writer.WriteLine(line);
        }
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new Member(name, process, log, port, http);
    }

    static async Task WaitUntilAsync(Member member, Func<Task<bool>> ready)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            if (!member.Alive) throw new InvalidOperationException($"{member.Name} exited: {Tail(member.Log)}");
            try
            {
                if (await ready()) return;
            }
            catch (Exception ex) when (ex is HttpRequestException or SocketException or TaskCanceledException) { }
            await Task.Delay(200);
        }
        throw new TimeoutException($"{member.Name} did not become ready: {Tail(member.Log)}");
    }

    /// <summary>The binary of a project, built in the same configuration as these tests.</summary>
    static string Binary(string project, string dll)
    {
        // bin/{configuration}/net10.0/{rid}
        var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Parent!.Name;
        var path = Path.Combine(TestPaths.RepoRoot, "src", project, "bin", configuration, "net10.0", "linux-x64", dll);
        return File.Exists(path) ? path : throw new FileNotFoundException($"Build {project} first", path);
    }

    static string Tail(string log)
    {
        try { return string.Join('\n', File.ReadLines(log).TakeLast(30)); }
        catch (IOException) { return "(no log)"; }
    }

    /// <summary>The end of every member's log, for a failing test's message.</summary>
    public string Logs() => string.Join("\n\n", silos.Concat(apis).Select(m => $"== {m.Name}\n{Tail(m.Log)}"));

    static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var m in apis.Concat(silos))
        {
            m.Http?.Dispose();
            if (m.Alive) m.Process.Kill(entireProcessTree: true);
            await m.Process.WaitForExitAsync();
        }
        Redis.Dispose();
        await Postgres.DisposeAsync();
    }
}
