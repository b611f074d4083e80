using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Catalogs.Bench;

/// <summary>
/// Failover of a big shard on a running cluster (deploy/local-cluster.sh on this machine): a catalog of
/// <c>points</c> × <c>dims</c> with a read replica of every shard is loaded, then the silo of shard 0's primary gets
/// kill -9 while one client writes and another searches. Reports when the shard took writes again, how searches
/// fared meanwhile, whether the replica was promoted in place, and when the shard had two copies again.
/// </summary>
static class FailoverBenchmark
{
    const string Catalog = "failover";

    public static async Task RunAsync(HttpClient http, int points, int dims, int shards)
    {
        var created = await http.PutAsJsonAsync($"/v1/catalogs/{Catalog}",
            new { dimensions = dims, metric = "cosine", shards, replicas = 2 });
        if (!created.IsSuccessStatusCode)
            throw new InvalidOperationException(await created.Content.ReadAsStringAsync());
        var all = VectorFiles.Synthetic(points + 100, dims, seed: 7);
        var load = Stopwatch.StartNew();
        await ApiBenchmarks.LoadAsync(http, Catalog, all[..points]);
        Console.WriteLine($"Failover: loaded {points:N0} × {dims} in {load.Elapsed.TotalSeconds:F0} s " +
            $"({points / load.Elapsed.TotalSeconds:F0}/s), {shards} shards, replicas 2");
        var settled = Stopwatch.StartNew();
        var stats = await SettledAsync(http, victim: null);
        Console.WriteLine($"  every replica loaded and caught up {settled.Elapsed.TotalSeconds:F0} s after loading");
        var shard0 = stats["shards"]![0]!;
        string victim = shard0["silo"]!.GetValue<string>();
        int pid = SiloProcess(victim);
        Console.WriteLine($"  shard 0 holds {shard0["products"]} products; its primary runs on {victim} " +
            $"(pid {pid}), its replica on {shard0["replicas"]![0]!["silo"]}");

        using var stop = new CancellationTokenSource();
        var clock = Stopwatch.StartNew();
        var searches = Task.Run(() => SearchAsync(http, all[points..], clock, stop.Token));
        TimeSpan? killed = null;
        var writes = Task.Run(() => WriteAsync(http, all[points..], () => killed, clock, stop.Token));
        await Task.Delay(2000);
        var killedAt = clock.Elapsed;
        Process.GetProcessById(pid).Kill();
        killed = killedAt;
        var back = await SettledAsync(http, victim);
        var redundant = clock.Elapsed - killedAt;
        await Task.Delay(2000);
        await stop.CancelAsync();
        var (writable, refused, slowestWrite) = await writes;
        var (answered, partial, failed, slowestSearch) = await searches;
        var origin = back["shards"]![0]!["indexOrigin"]?.GetValue<string>();
        Console.WriteLine("  after kill -9: shard 0 acknowledged a write again " +
            $"{writable.TotalSeconds:F1} s after the kill (slowest write " +
            $"{slowestWrite.TotalSeconds:F1} s, {refused} refused); its primary came " +
            $"back as '{origin}' on {back["shards"]![0]!["silo"]}; two loaded copies again after " +
            $"{redundant.TotalSeconds:F1} s");
        Console.WriteLine($"  searches from 2 s before the kill until then: {answered} complete, {partial} partial, " +
            $"{failed} failed; slowest {slowestSearch.TotalSeconds:F2} s");
    }

    /// <summary>The catalog once every shard has a loaded, caught-up replica on another silo than its primary,
    /// and (after a kill) no copy on <paramref name="victim"/>.</summary>
    static async Task<JsonNode> SettledAsync(HttpClient http, string? victim)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(30);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                var catalog = (await http.GetFromJsonAsync<JsonNode>($"/v1/catalogs/{Catalog}"))!;
                if (catalog["shards"]!.AsArray().All(s => s!["replicas"]!.AsArray() is [{ } r]
                    && r["loaded"]!.GetValue<bool>()
                    && r["lastSequence"]!.GetValue<long>() == s["lastSequence"]!.GetValue<long>()
                    && r["silo"]!.GetValue<string>() != s["silo"]!.GetValue<string>()
                    && s["silo"]!.GetValue<string>() != victim && r["silo"]!.GetValue<string>() != victim))
                    return catalog;
            }
            catch (HttpRequestException) { }
            await Task.Delay(250);
        }
        throw new TimeoutException("the catalog's copies did not settle within 30 minutes");
    }

    /// <summary>The local process of the silo at <paramref name="siloAddress"/> (<c>S127.0.0.1:port:generation</c>):
    /// the one started with that <c>Orleans__SiloPort</c>.</summary>
    static int SiloProcess(string siloAddress)
    {
        string port = siloAddress.Split(':')[1];
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            try
            {
                if (File.ReadAllText(Path.Combine(dir, "environ")).Split('\0').Contains($"Orleans__SiloPort={port}"))
                    return pid;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { }
        }
        throw new InvalidOperationException($"No local process runs the silo {siloAddress} (local-cluster.sh?)");
    }

    /// <summary>One writer, back to back: when the shard took writes again (the acknowledgement of the first write
    /// sent after the kill and after the last refusal: one in flight at the kill may have been applied before it),
    /// the refusals, and the slowest write.</summary>
    static async Task<(TimeSpan Writable, int Refused, TimeSpan Slowest)> WriteAsync(HttpClient http,
        float[][] vectors, Func<TimeSpan?> killedAt, Stopwatch clock, CancellationToken stop)
    {
        var slowest = TimeSpan.Zero;
        TimeSpan? writable = null;
        int refused = 0;
        for (int n = 0; !stop.IsCancellationRequested; n++)
        {
            var sent = clock.Elapsed;
            var r = await http.PutAsJsonAsync($"/v1/catalogs/{Catalog}/products/w{n % 1000}",
                new { featureVector = vectors[n % vectors.Length] }, CancellationToken.None);
            var done = clock.Elapsed;
            if (done - sent > slowest) slowest = done - sent;
            if (killedAt() is not { } kill || done < kill) continue;
            if (!r.IsSuccessStatusCode) (refused, writable) = (refused + 1, null);
            else if (sent >= kill) writable ??= done - kill;
        }
        return (writable ?? TimeSpan.MaxValue, refused, slowest);
    }

    static async Task<(int Answered, int Partial, int Failed, TimeSpan Slowest)> SearchAsync(HttpClient http,
        float[][] queries, Stopwatch clock, CancellationToken stop)
    {
        int answered = 0, partial = 0, failed = 0;
        var slowest = TimeSpan.Zero;
        for (int n = 0; !stop.IsCancellationRequested; n++)
        {
            var sent = clock.Elapsed;
            var r = await http.PostAsJsonAsync($"/v1/catalogs/{Catalog}/search",
                new { featureVector = queries[n % queries.Length], neighborCount = 10 }, CancellationToken.None);
            var took = clock.Elapsed - sent;
            if (took > slowest) slowest = took;
            if (!r.IsSuccessStatusCode) failed++;
            else if ((await r.Content.ReadFromJsonAsync<JsonNode>())!["partial"]!.GetValue<bool>()) partial++;
            else answered++;
        }
        return (answered, partial, failed, slowest);
    }
}
