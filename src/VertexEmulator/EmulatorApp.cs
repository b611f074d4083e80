using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Catalogs.VertexEmulator;

/// <summary>Options of the emulator (section <c>Emulator</c>).</summary>
public sealed class EmulatorOptions
{
    /// <summary>API routes require a bearer token issued by <c>/token</c>.</summary>
    public bool RequireAuth { get; set; }
}

/// <summary>
/// The emulator as an app: Vertex AI Vector Search (indexes, index endpoints, findNeighbors, readIndexDatapoints,
/// operations) and Cloud Storage (resumable upload, download, list, delete) in memory, an OAuth token endpoint, and
/// <c>/emulator</c> admin routes: fault settings, service-account keys, counters.
/// </summary>
public static class EmulatorApp
{
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder(args);
        builder.Services.AddOptions<EmulatorOptions>().Bind(builder.Configuration.GetSection("Emulator"));
        builder.Services.AddSingleton<EmulatorState>();
        builder.Services.AddSingleton<FaultInjector>();
        // Google's client libraries gzip request bodies (object metadata, upload chunks), as Google's APIs accept.
        builder.Services.AddRequestDecompression();
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.DefaultIgnoreCondition =
            System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull);
        configure?.Invoke(builder);
        var app = builder.Build();
        app.UseRequestDecompression();

        var faults = app.Services.GetRequiredService<FaultInjector>();
        var state = app.Services.GetRequiredService<EmulatorState>();
        bool requireAuth =
            app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<EmulatorOptions>>().Value.RequireAuth;
        app.Use(async (context, next) =>
        {
            if (requireAuth && FaultInjector.IsApiPath(context.Request.Path))
            {
                var header = context.Request.Headers.Authorization.ToString();
                bool known;
                lock (state.Sync) known = header.StartsWith("Bearer ", StringComparison.Ordinal)
                    && state.Tokens.Contains(header[7..]);
                if (!known)
                {
                    faults.CountUnauthenticated();
                    context.Response.StatusCode = 401;
                    var message = "Request is missing a valid access token.";
                    await context.Response.WriteAsJsonAsync(
                        new { error = new { code = 401, message, status = "UNAUTHENTICATED" } });
                    return;
                }
            }
            await next(context);
        });
        app.Use(faults.InvokeAsync);

        app.MapPost("/token", TokenEndpoint.ExchangeAsync);
        var admin = app.MapGroup("/emulator");
        admin.MapPut("/faults", (FaultSettings settings) =>
            { faults.Settings = settings; return Results.Ok(settings); });
        admin.MapGet("/faults", () => faults.Settings);
        admin.MapGet("/stats", () => faults.Stats);
        admin.MapPost("/service-accounts", (ServiceAccountKey key) =>
        {
            lock (state.Sync) state.ServiceAccountKeys[key.ClientEmail] = key.PublicKeyPem;
            return Results.NoContent();
        });
        VectorSearchEndpoints.Map(app);
        StorageEndpoints.Map(app);
        return app;
    }

    /// <summary>Starts the emulator on a free loopback port and returns it with its base address.</summary>
    public static async Task<(WebApplication App, Uri BaseAddress)> StartAsync(bool requireAuth = false)
    {
        var app = Build([], builder =>
        {
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Configuration["Emulator:RequireAuth"] = requireAuth.ToString();
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
        });
        await app.StartAsync();
        var address =
            app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return (app, new Uri(address.EndsWith('/') ? address : address + "/"));
    }
}

/// <summary>Service-account keys the emulator's token endpoint trusts, for tests and local development.</summary>
public static class EmulatorServiceAccounts
{
    /// <summary>Generates an RSA key, registers its public half with the running emulator, and writes a
    /// service-account key file (its <c>token_uri</c> pointing at the emulator) to <paramref name="path"/>.</summary>
    public static async Task<string> CreateKeyFileAsync(this WebApplication app, Uri baseAddress, string path,
        string email = "sync@catalogs-dev.iam.gserviceaccount.com")
    {
        using var rsa = System.Security.Cryptography.RSA.Create(2048);
        var state = app.Services.GetRequiredService<EmulatorState>();
        lock (state.Sync) state.ServiceAccountKeys[email] = rsa.ExportSubjectPublicKeyInfoPem();
        await File.WriteAllTextAsync(path, System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["type"] = "service_account",
            ["project_id"] = "catalogs-dev",
            ["private_key_id"] = "emulator",
            ["private_key"] = rsa.ExportPkcs8PrivateKeyPem(),
            ["client_email"] = email,
            ["client_id"] = "1",
            ["token_uri"] = new Uri(baseAddress, "token").ToString(),
        }));
        return path;
    }
}

/// <summary>A service account the token endpoint trusts: its email (the JWT issuer) and public key.</summary>
public sealed record ServiceAccountKey(string ClientEmail, string PublicKeyPem);
