using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Catalogs.Tests;
using Catalogs.VertexAI;
using Catalogs.VertexEmulator;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Catalogs.ApiHost.Tests;

/// <summary>
/// Runs the real ApiHost as its own process, streams upserts and deletes into it from several clients, kills it with
/// SIGKILL mid-stream, restarts it on the same data folder and checks that every acknowledged write is there. The
/// catalog is mirrored into Matching Engine (the emulator, with OAuth and 20 % injected faults) throughout: after the
/// restart the mirror must end equal to the catalog.
/// </summary>
public class CrashRecoveryTests
{
    /// <summary>The binary on <paramref name="port"/> (the same before and after the kill), snapshots and log
    /// truncation happening during the run, the Matching Engine mirror on the emulator.</summary>
    static Task<ApiHostProcess> StartAsync(string dataPath, int port, IReadOnlyDictionary<string, string> vertex) =>
        ApiHostProcess.StartAsync(dataPath, port, new Dictionary<string, string>(
            vertex.Select(p => KeyValuePair.Create(p.Key.Replace(":", "__"), p.Value)))
        {
            ["Catalogs__SnapshotEveryRecords"] = "300",
            ["Catalogs__Sync__MaxBackoff"] = "00:00:00.500",
        });

    [Fact]
    public async Task Kill_9_during_a_write_stream_loses_no_acknowledged_write()
    {
        var data = TestPaths.NewTempDirectory("crash");
        int port = ApiFactory.FreePort();
        var (emulator, emulatorBase) = await EmulatorApp.StartAsync(requireAuth: true);
        await using var _ = emulator;
        var vertexSettings = new Dictionary<string, string>
        {
            ["Vertex:ApiBase"] = emulatorBase.ToString(),
            ["Vertex:PublicEndpointBase"] = emulatorBase.ToString(),
            ["Vertex:StorageBase"] = emulatorBase.ToString(),
            ["Vertex:CredentialsFile"] = await emulator.CreateKeyFileAsync(emulatorBase, Path.Combine(data, "..",
                $"key-{port}.json")),
            ["Vertex:OperationPollInterval"] = "00:00:00.010",
        };
        var services = new ServiceCollection();
        services.AddVertexClients(new ConfigurationBuilder().AddInMemoryCollection(vertexSettings!).Build());
        await using var provider = services.BuildServiceProvider();
        var vertex = provider.GetRequiredService<MatchingEngineClient>();
        var index = await vertex.CreateTestIndexAsync(8);
        using var admin = new HttpClient { BaseAddress = emulatorBase };
        (await admin.PutAsJsonAsync("emulator/faults", new FaultSettings(ErrorRate: 0.08, QuotaRate: 0.04,
            DropBeforeRate: 0.04, DropAfterRate: 0.04, Seed: 3, PathContains: "/indexes/"))).EnsureSuccessStatusCode();
        using var http =
            new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(10) };
        var first = await StartAsync(data, port, vertexSettings);
        var acknowledged = new System.Collections.Concurrent.ConcurrentDictionary<string, float[]?>(); // null: deleted
        // The one request per id that may be in flight at the kill: it may have landed without being acknowledged.
        var inFlight = new System.Collections.Concurrent.ConcurrentDictionary<string, float[]?>();
        try
        {
            // the binding check needs it up
            (await admin.PutAsJsonAsync("emulator/faults", new FaultSettings())).EnsureSuccessStatusCode();
            var r = await http.PutAsJsonAsync("/v1/catalogs/crash",
                new { dimensions = 8, metric = "cosine", shards = 2, matchingEngine = new { index } });
            (await admin.PutAsJsonAsync("emulator/faults", new FaultSettings(ErrorRate: 0.08, QuotaRate: 0.04,
                DropBeforeRate: 0.04, DropAfterRate: 0.04, Seed: 3,
                PathContains: "Datapoints"))).EnsureSuccessStatusCode();
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
                            if (del.IsSuccessStatusCode || del.StatusCode == HttpStatusCode.NotFound) acknowledged[id] =
                                null;
                        }
                        else
                        {
                            var v = Enumerable.Range(0, 8).Select(_ => (float)rng.NextDouble() + 0.01f).ToArray();
                            inFlight[id] = v;
                            var put = await http.PutAsJsonAsync($"/v1/catalogs/crash/products/{id}",
                                new { featureVector = v });
                            if (put.IsSuccessStatusCode) acknowledged[id] = v;
                        }
                    }
                    catch (Exception) when (stop.IsCancellationRequested || first.HasExited) { return; }
                    catch (HttpRequestException) { return; }
                }
            })).ToArray();
            // Let acknowledged writes pile up (snapshots included), then SIGKILL in the middle of the stream.
            while (acknowledged.Count < 600) await Task.Delay(50);
            first.Kill();
            stop.Cancel();
            await Task.WhenAll(writers);
        }
        finally
        {
            await first.DisposeAsync();
        }

        var second = await StartAsync(data, port, vertexSettings);
        try
        {
            // A write in flight at the kill may or may not have landed, but only its key is in doubt, never an earlier
            // one:
            // each writer's last request per id is acknowledged or not; acknowledged state must be there exactly.
            foreach (var (id, vector) in acknowledged)
            {
                var response = await http.GetAsync($"/v1/catalogs/crash/products/{id}");
                var maybe = inFlight.GetValueOrDefault(id);
                if (vector is null)
                {
                    if (maybe is not null && response.IsSuccessStatusCode) continue; // an unacknowledged upsert landed
                    Assert.True(response.StatusCode == HttpStatusCode.NotFound,
                        $"{id} was deleted (acknowledged) but is back");
                    continue;
                }
                // an unacknowledged delete landed
                if (maybe is null && response.StatusCode == HttpStatusCode.NotFound && inFlight.ContainsKey(id))
                    continue;
                Assert.True(response.IsSuccessStatusCode, $"{id} was acknowledged but is missing after the crash");
                var stored = (await response.Content.ReadFromJsonAsync<Stored>(Api.Web))!;
                Assert.True(vector.SequenceEqual(stored.FeatureVector) || maybe is not null
                    && maybe.SequenceEqual(stored.FeatureVector),
                    $"{id} holds neither its acknowledged vector nor the one in flight");
            }
            var search = await http.PostAsJsonAsync("/v1/catalogs/crash/search",
                new { featureVector = acknowledged.Values.First(v => v is not null), neighborCount = 1 });
            Assert.True(search.IsSuccessStatusCode);

            // The mirror: once the backlog (left in the logs by the kill, and by the faults) drains, Matching Engine
            // holds exactly what the catalog holds.
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (true)
            {
                var catalog = JsonDocument.Parse(await http.GetStringAsync("/v1/catalogs/crash")).RootElement;
                if (catalog.GetProperty("shards").EnumerateArray().All(s =>
                    s.GetProperty("sync").GetProperty("backlog").GetInt32() == 0)) break;
                Assert.True(DateTime.UtcNow < deadline, "the sync backlog did not drain after the restart");
                await Task.Delay(100);
            }
            (await admin.PutAsJsonAsync("emulator/faults", new FaultSettings())).EnsureSuccessStatusCode();
            var endpoint = await vertex.DeployOnNewEndpointAsync(index, "check");
            var mirrored = (await vertex.ReadIndexDatapointsAsync(endpoint.PublicEndpointDomainName!, endpoint.Name!,
                new ReadIndexDatapointsRequest("check",
                    acknowledged.Keys.Concat(inFlight.Keys).Distinct().ToArray()))).Datapoints!.ToDictionary(d =>
                    d.DatapointId);
            int held = 0;
            foreach (var id in acknowledged.Keys.Concat(inFlight.Keys).Distinct())
            {
                var response = await http.GetAsync($"/v1/catalogs/crash/products/{id}");
                if (response.StatusCode == HttpStatusCode.NotFound)
                {
                    Assert.False(mirrored.ContainsKey(id),
                        $"{id} is deleted in the catalog but still in Matching Engine");
                    continue;
                }
                held++;
                var stored = (await response.Content.ReadFromJsonAsync<Stored>(Api.Web))!;
                Assert.True(mirrored.TryGetValue(id, out var m) && m.FeatureVector!.SequenceEqual(stored.FeatureVector),
                    $"{id} differs in Matching Engine");
            }
            Assert.True(held > 100, $"only {held} products held");
            Assert.Equal(held, (await vertex.GetIndexAsync(index)).IndexStats!.VectorsCount);
            var faults = JsonDocument.Parse(await admin.GetStringAsync("emulator/stats")).RootElement;
            Assert.True(faults.GetProperty("errors").GetInt64() > 0
                && faults.GetProperty("droppedAfter").GetInt64() > 0, $"faults were injected: {faults}");
        }
        finally
        {
            await second.DisposeAsync();
        }
    }

    sealed record Stored(string Id, float[] FeatureVector);
}
