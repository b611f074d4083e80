using Catalogs.Grains;
using Catalogs.Grains.Hosting;
using Catalogs.ServiceDefaults;

// A silo: embedded settings by default (localhost clustering, files), a cluster member with Cluster:Mode=Cluster.
// It serves /healthz, /readyz (an active cluster member) and /metrics over HTTP for probes and scrapers.
var builder = WebApplication.CreateBuilder(args);
if (string.IsNullOrEmpty(builder.Configuration[WebHostDefaults.ServerUrlsKey]))
    builder.WebHost.UseUrls("http://127.0.0.1:8081"); // not Kestrel's 5000, which an API host may use
builder.AddCatalogsServiceDefaults("catalogs-silo");
builder.Services.AddHealthChecks().AddSiloReadyCheck();
builder.Services.AddCatalogsSiloServices(builder.Configuration);
builder.UseOrleans(silo => silo.UseCatalogsHosting(builder.Configuration).AddCatalogsTelemetry(builder.Configuration));
var app = builder.Build();
app.MapCatalogsDefaultEndpoints();
await app.RunAsync();
