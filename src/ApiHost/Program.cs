using Catalogs.ApiHost.Access;
using Catalogs.ApiHost.Catalogs;
using Catalogs.ApiHost.Demo;
using Catalogs.ApiHost.Health;
using Catalogs.ApiHost.ImageFetching;
using Catalogs.ApiHost.Imports;
using Catalogs.ApiHost.Infrastructure;
using Catalogs.ApiHost.Products;
using Catalogs.ApiHost.Search;
using Catalogs.ApiHost.Tenants;
using Catalogs.Grains;
using Catalogs.Grains.Hosting;
using Catalogs.ServiceDefaults;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Configuration.Json;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.FileProviders;
using Scalar.AspNetCore;

var builder = WebApplication.CreateBuilder(args);
// `dotnet run` works from the repository root (./data, ./models, ../shared); the defaults ship beside the binary.
if (!File.Exists(Path.Combine(builder.Environment.ContentRootPath, "appsettings.json")))
{
    var defaults = new JsonConfigurationSource
    {
        Path = Path.Combine(AppContext.BaseDirectory, "appsettings.json"),
        Optional = true,
    };
    defaults.ResolveFileProvider();
    builder.Configuration.Sources.Insert(0, defaults);
}

builder.Services.AddOptions<ApiOptions>().Bind(builder.Configuration.GetSection(ApiOptions.Section))
    .ValidateDataAnnotations().ValidateOnStart();
var api = builder.Configuration.GetSection(ApiOptions.Section).Get<ApiOptions>() ?? new ApiOptions();
builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = api.MaxRequestBytes);
builder.Services.Configure<FormOptions>(form => form.MultipartBodyLengthLimit = api.MaxRequestBytes);

// Embedded mode: the silo runs in this process with localhost clustering and file-backed durable state. Cluster
// mode: this process is a client of the silos, found through Redis.
var deployment = ClusterHosting.Deployment(builder.Configuration);
builder.AddCatalogsServiceDefaults("catalogs-api");
if (deployment.Mode == HostingMode.Embedded)
{
    builder.Services.AddCatalogsSiloServices(builder.Configuration);
    builder.UseOrleans(silo => silo.UseCatalogsHosting(builder.Configuration)
        .AddCatalogsTelemetry(builder.Configuration));
}
else
{
    builder.UseOrleansClient(client => client.UseCatalogsCluster(deployment)
        .AddCatalogsTelemetry(builder.Configuration));
}

builder.Services.AddProblemDetails();
builder.Services.AddExceptionHandler<ProblemExceptionHandler>();
builder.AddCatalogsAccess(); // API keys, scopes, per-tenant rate limits, the OpenAPI security scheme
builder.Services.AddSingleton<TenantEndpoints.TenantServices>();
builder.Services.AddOptions<RequestLimits>().Bind(builder.Configuration.GetSection(RequestLimits.Section))
    .ValidateDataAnnotations().ValidateOnStart();
builder.Services.AddSingleton<RequestValidator>();
builder.Services.TryAddSingleton<StartupWaits>(); // cluster mode registers it with the client
builder.Services.AddSingleton<CatalogGateway>();
builder.Services.AddSingleton<SiloDeathWatch>();
if (deployment.Mode == HostingMode.Cluster)
    builder.Services.AddHostedService(sp => sp.GetRequiredService<SiloDeathWatch>());
builder.Services.AddImageFetching(builder.Configuration);
builder.Services.AddCatalogHealthChecks();
builder.Services.AddDemoCatalogs(builder.Configuration);
builder.Services.AddOptions<ImportOptions>().Bind(builder.Configuration.GetSection(ImportOptions.Section))
    .ValidateDataAnnotations().ValidateOnStart();
builder.Services.AddSingleton<ImportJobs>();
builder.Services.AddHostedService<ImportRunner>();

var app = builder.Build();

app.UseExceptionHandler();
app.UseDotSegmentGuard();
// Refusals made by routing itself (unknown route, wrong method, wrong Content-Type) get problem+json with a reason too.
app.UseStatusCodePages(async context =>
{
    var http = context.HttpContext;
    var detail = http.Response.StatusCode switch
    {
        404 => $"There is no endpoint at {http.Request.Path}.",
        405 => $"{http.Request.Method} is not allowed on {http.Request.Path}.",
        415 => $"Content-Type '{http.Request.ContentType}' is not accepted here: send " +
            (AcceptedContentTypes.For(http) is { Length: > 0 } types ? string.Join(" or ", types)
                : "a type the endpoint documents") + " (see /docs).",
        _ => null,
    };
    await http.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
    {
        HttpContext = http,
        ProblemDetails = { Status = http.Response.StatusCode, Detail = detail },
    });
});
// The web UI: static files shipped beside the binary, served to anyone (the data it shows needs a key).
var webRoot = new PhysicalFileProvider(Path.Combine(AppContext.BaseDirectory, "wwwroot"));
app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = webRoot });
app.UseStaticFiles(new StaticFileOptions { FileProvider = webRoot });
app.UseCatalogsAccess();
app.MapOpenApi().AllowAnonymous();
app.MapScalarApiReference("/docs", o => o.AddPreferredSecuritySchemes([Callers.Scheme])).AllowAnonymous();
app.MapCatalogEndpoints();
app.MapProductEndpoints();
app.MapSearchEndpoints();
app.MapTenantEndpoints();
app.MapImportEndpoints();
app.MapCatalogsDefaultEndpoints();

app.Run();

/// <summary>Entry point, visible to WebApplicationFactory in the tests.</summary>
public partial class Program;
