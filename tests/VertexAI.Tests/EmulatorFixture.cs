using System.Net.Http.Json;
using Catalogs.VertexEmulator;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Catalogs.VertexAI.Tests;

/// <summary>
/// The emulator on a loopback port, requiring OAuth: a service-account key is generated and signed locally, its public
/// key registered with the emulator, and the clients get their tokens from the emulator's token endpoint through
/// Google.Apis.Auth, exactly as they would from Google's.
/// </summary>
public sealed class EmulatorFixture : IAsyncLifetime
{
    WebApplication? app;
    ServiceProvider? services;

    public Uri BaseAddress { get; private set; } = null!;
    public HttpClient Admin { get; } = new();
    public string KeyFile { get; } = Path.Combine(Path.GetTempPath(), $"catalogs-sa-{Guid.NewGuid():N}.json");
    public MatchingEngineClient Vertex => services!.GetRequiredService<MatchingEngineClient>();
    public CloudStorageClient Storage => services!.GetRequiredService<CloudStorageClient>();
    public const string Parent = "projects/catalogs-test/locations/europe-west4";

    public async Task InitializeAsync()
    {
        (app, BaseAddress) = await EmulatorApp.StartAsync(requireAuth: true);
        Admin.BaseAddress = BaseAddress;
        await app.CreateKeyFileAsync(BaseAddress, KeyFile);
        services = Clients(new() { ["Vertex:CredentialsFile"] = KeyFile });
    }

    /// <summary>Clients configured against the emulator, plus <paramref name="settings"/>.</summary>
    public ServiceProvider Clients(Dictionary<string, string?> settings)
    {
        var all = new Dictionary<string, string?>
        {
            ["Vertex:ApiBase"] = BaseAddress.ToString(),
            ["Vertex:PublicEndpointBase"] = BaseAddress.ToString(),
            ["Vertex:StorageBase"] = BaseAddress.ToString(),
            ["Vertex:OperationPollInterval"] = "00:00:00.010",
        };
        foreach (var (k, v) in settings) all[k] = v;
        var collection = new ServiceCollection();
        collection.AddVertexClients(new ConfigurationBuilder().AddInMemoryCollection(all).Build());
        return collection.BuildServiceProvider();
    }

    public async Task SetFaultsAsync(FaultSettings settings) => (await Admin.PutAsJsonAsync("emulator/faults",
        settings)).EnsureSuccessStatusCode();

    public async Task<EmulatorStats> StatsAsync() => (await Admin.GetFromJsonAsync<EmulatorStats>("emulator/stats"))!;

    public async Task DisposeAsync()
    {
        services?.Dispose();
        if (app is not null) await app.DisposeAsync();
        File.Delete(KeyFile);
    }
}
