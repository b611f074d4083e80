using Catalogs.Tests;

namespace Catalogs.Bench;

/// <summary>The real ApiHost binary on loopback (the tests' <see cref="ApiHostProcess"/>), its stderr on the
/// console, and its memory as the kernel counts it.</summary>
sealed class ApiProcess : IAsyncDisposable
{
    readonly ApiHostProcess host;

    public HttpClient Http => host.Http;
    public string DataPath => host.DataPath;

    ApiProcess(ApiHostProcess host) => this.host = host;

    /// <summary>The whole process's resident memory (VmRSS) and its anonymous (heap) and file-backed (mapped files,
    /// code) parts, in bytes; file-backed pages are page cache the kernel can reclaim.</summary>
    public (double Total, double Anonymous, double File) Resident()
    {
        var status = File.ReadLines($"/proc/{host.ProcessId}/status").Select(l => l.Split(':', 2))
            .Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
        double Kib(string key) => long.Parse(status[key].Trim().Split(' ')[0]) * 1024.0;
        return (Kib("VmRSS"), Kib("RssAnon"), Kib("RssFile") + Kib("RssShmem"));
    }

    /// <summary>Waits until the process has used under 5 % of one core over 2 s (writes are acknowledged before
    /// the index holds them: the index work runs on after the last response), then for <paramref name="settle"/>
    /// more, so a memory figure is of the loaded state and not of the load.</summary>
    public async Task WaitUntilIdleAsync(TimeSpan settle)
    {
        double CpuSeconds()
        {
            var fields = File.ReadAllText($"/proc/{host.ProcessId}/stat").Split(')')[1].Split(' ',
                StringSplitOptions.RemoveEmptyEntries);
            return (long.Parse(fields[11]) + long.Parse(fields[12])) / 100.0; // utime + stime, in clock ticks
        }
        for (double before = CpuSeconds(); ;)
        {
            await Task.Delay(TimeSpan.FromSeconds(2));
            double now = CpuSeconds();
            if (now - before < 0.1) break;
            before = now;
        }
        await Task.Delay(settle);
    }

    public static async Task<ApiProcess> StartAsync(string repoRoot, string configuration)
    {
        var data = Path.Combine(Path.GetTempPath(), "catalogs-bench", Guid.NewGuid().ToString("N")[..8]);
        return new ApiProcess(await ApiHostProcess.StartAsync(data,
            settings: new Dictionary<string, string> { ["Logging__LogLevel__Default"] = "Warning" },
            errors: line => Console.Error.WriteLine("  [api] " + line), configuration: configuration,
            repoRoot: repoRoot));
    }

    public async ValueTask DisposeAsync()
    {
        await host.DisposeAsync();
        try { Directory.Delete(DataPath, recursive: true); } catch (IOException) { }
    }
}
