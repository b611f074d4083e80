using Catalogs.Grains;
using Catalogs.Grains.Hosting;
using Microsoft.Extensions.Hosting;

// A silo: embedded settings by default (localhost clustering, files), a cluster member with Cluster:Mode=Cluster.
var builder = Host.CreateApplicationBuilder(args);
builder.Services.AddCatalogsSiloServices(builder.Configuration);
builder.UseOrleans(silo => silo.UseCatalogsHosting(builder.Configuration));
await builder.Build().RunAsync();
