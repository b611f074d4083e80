using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Catalogs.Tests;

namespace Catalogs.ApiHost.Tests;

/// <summary>
/// Runs the real ApiHost as its own process, streams upserts and deletes into it from several clients, kills it with
/// SIGKILL mid-stream, restarts it on the same data folder and checks that every acknowledged write is there.
/// </summary>
public class CrashRecoveryTests
{
    static string ApiHostDll()
    {
        var configuration = AppContext.BaseDirectory.Contains("/Release/") ? "Release" : "Debug";
        var path = Path.Combine(TestPaths.RepoRoot, "src", "ApiHost", "bin", configuration, "net10.0", "linux-x64", "Catalogs.ApiHost.dll");
        Assert.True(File.Exists(path), $"ApiHost build not found at {path}");
        return path;
    }

    static Process Start(string dataPath, int port)
    {
        var info = new ProcessStartInfo("dotnet", [ApiHostDll()])
        {
            WorkingDirectory = TestPaths.RepoRoot,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.Environment["Urls"] = $"http://127.0.0.1:{port}";
        info.Environment["Catalogs__DataPath"] = dataPath;
        info.Environment["Catalogs__SnapshotEveryRecords"] = "300"; // snapshots and log truncation happen during the run
        info.Environment["Demo__Enabled"] = "false";
        info.Environment["Orleans__SiloPort"] = ApiFactory.FreePort().ToString();
        info.Environment["Orleans__GatewayPort"] = ApiFactory.FreePort().ToString();
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    static async Task WaitReady(HttpClient http)
    {
        for (int i = 0; i < 300; i++)
        {
            try
            {
                if ((await http.GetAsync("/readyz")).IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            await Task.Delay(100);
        }
        throw new TimeoutException("ApiHost did not become ready.");
    }

    [Fact]
    public async Task Kill_9_during_a_write_stream_loses_no_acknowledged_write()
    {
        var data = TestPaths.NewTempDirectory("crash");
        int port = ApiFactory.FreePort();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(10) };
        var first = Start(data, port);
        var acknowledged = new System.Collections.Concurrent.ConcurrentDictionary<string, float[]?>(); // null: deleted
        // The one request per id that may be in flight at the kill: it may have landed without being acknowledged.
        var inFlight = new System.Collections.Concurrent.ConcurrentDictionary<string, float[]?>();
        try
        {
            await WaitReady(http);
            var r = await http.PutAsJsonAsync("/v1/catalogs/crash", new { dimensions = 8, metric = "cosine", shards = 2 });
            Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync());

            using var stop = new CancellationTokenSource();
            var writers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
            {
                var rng = new Random(w);
                for (int i = 0; !stop.IsCancellationRequested; i++)
                {
                    var id = $"w{w}-{rng.Next(400)}";
                    try
                    {
                        if (i % 5 == 4)
                        {
                            inFlight[id] = null;
                            var del = await http.DeleteAsync($"/v1/catalogs/crash/products/{id}");
                            if (del.IsSuccessStatusCode || del.StatusCode == HttpStatusCode.NotFound) acknowledged[id] = null;
                        }
                        else
                        {
                            var v = Enumerable.Range(0, 8).Select(_ => (float)rng.NextDouble() + 0.01f).ToArray();
                            inFlight[id] = v;
                            var put = await http.PutAsJsonAsync($"/v1/catalogs/crash/products/{id}", new { featureVector = v });
                            if (put.IsSuccessStatusCode) acknowledged[id] = v;
                        }
                    }
                    catch (Exception) when (stop.IsCancellationRequested || first.HasExited) { return; }
                    catch (HttpRequestException) { return; }
                }
            })).ToArray();
            // Let acknowledged writes pile up (snapshots included), then SIGKILL in the middle of the stream.
            while (acknowledged.Count < 600) await Task.Delay(50);
            first.Kill(entireProcessTree: true);
            stop.Cancel();
            await Task.WhenAll(writers);
        }
        finally
        {
            if (!first.HasExited) first.Kill(entireProcessTree: true);
            await first.WaitForExitAsync();
        }

        var second = Start(data, port);
        try
        {
            await WaitReady(http);
            // A write in flight at the kill may or may not have landed, but only its key is in doubt, never an earlier one:
            // each writer's last request per id is acknowledged or not; acknowledged state must be there exactly.
            foreach (var (id, vector) in acknowledged)
            {
                var response = await http.GetAsync($"/v1/catalogs/crash/products/{id}");
                var maybe = inFlight.GetValueOrDefault(id);
                if (vector is null)
                {
                    if (maybe is not null && response.IsSuccessStatusCode) continue; // an unacknowledged upsert landed
                    Assert.True(response.StatusCode == HttpStatusCode.NotFound, $"{id} was deleted (acknowledged) but is back");
                    continue;
                }
                if (maybe is null && response.StatusCode == HttpStatusCode.NotFound && inFlight.ContainsKey(id)) continue; // an unacknowledged delete landed
                Assert.True(response.IsSuccessStatusCode, $"{id} was acknowledged but is missing after the crash");
                var stored = (await response.Content.ReadFromJsonAsync<Stored>(Api.Web))!;
                Assert.True(vector.SequenceEqual(stored.FeatureVector) || maybe is not null && maybe.SequenceEqual(stored.FeatureVector),
                    $"{id} holds neither its acknowledged vector nor the one in flight");
            }
            var search = await http.PostAsJsonAsync("/v1/catalogs/crash/search", new { featureVector = acknowledged.Values.First(v => v is not null), neighborCount = 1 });
            Assert.True(search.IsSuccessStatusCode);
        }
        finally
        {
            second.Kill(entireProcessTree: true);
            await second.WaitForExitAsync();
        }
    }

    sealed record Stored(string Id, float[] FeatureVector);
}
