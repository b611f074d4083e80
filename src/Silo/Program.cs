using Catalogs.Grains;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

var builder = Host.CreateApplicationBuilder(args);
builder.Services.AddCatalogsSiloServices(builder.Configuration);
builder.UseOrleans(silo =>
{
    var ports = builder.Configuration.GetSection("Orleans");
    silo.UseLocalhostClustering(ports.GetValue("SiloPort", 11111), ports.GetValue("GatewayPort", 30000));
    silo.AddCatalogsFileStorage();
});
await builder.Build().RunAsync();
