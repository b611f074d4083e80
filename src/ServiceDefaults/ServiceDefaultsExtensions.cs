using System.ComponentModel.DataAnnotations;
using Catalogs.ServiceDefaults.Memory;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Orleans.Dashboard;
using Orleans.Runtime;

namespace Catalogs.ServiceDefaults;

/// <summary>The same probes, metrics and traces in every Catalogs process (API host, silo), as eShop's service
/// defaults do it.</summary>
public static class ServiceDefaultsExtensions
{
    /// <summary>Meters of the Catalogs libraries (encoders, shards, sync) and of Orleans.</summary>
    public static readonly string[] Meters = ["Catalogs.*", "Microsoft.Orleans"];

    /// <summary>Activity sources: the Catalogs libraries and the Orleans calls between processes.</summary>
    public static readonly string[] ActivitySources =
        ["Catalogs.*", "Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application"];

    public static TelemetryOptions Telemetry(IConfiguration configuration)
    {
        var options = configuration.GetSection(TelemetryOptions.Section).Get<TelemetryOptions>() ?? new();
        Validator.ValidateObject(options, new ValidationContext(options), validateAllProperties: true);
        return options;
    }

    /// <summary>OpenTelemetry metrics (always, for <c>/metrics</c> and OTLP), traces and logs (when an OTLP endpoint
    /// is set: an unexported trace costs without helping), and the liveness check.</summary>
    public static IHostApplicationBuilder AddCatalogsServiceDefaults(this IHostApplicationBuilder builder,
        string serviceName)
    {
        var options = Telemetry(builder.Configuration);
        builder.Services.AddSingleton(options);
        builder.Services.AddHealthChecks();
        var memory = builder.Configuration.GetSection(MemoryOptions.Section).Get<MemoryOptions>() ?? new();
        Validator.ValidateObject(memory, new ValidationContext(memory), validateAllProperties: true);
        builder.Services.AddSingleton(memory);
        builder.Services.AddSingleton<HeapTrimmer>();
        builder.Services.AddHostedService(services => services.GetRequiredService<HeapTrimmer>());
        var otlp = options.OtlpEndpoint ?? (Uri.TryCreate(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"],
            UriKind.Absolute, out var fromEnvironment) ? fromEnvironment : null);
        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(serviceName,
                serviceInstanceId: $"{Environment.MachineName}-{Environment.ProcessId}"))
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(Meters).AddAspNetCoreInstrumentation().AddHttpClientInstrumentation()
                    .AddRuntimeInstrumentation()
                    // Each stream allocates its limit of points up front (2,000 by default: ~21 MiB over the
                    // ~150 streams of a process); our tags (catalog, shard, route, status) need far fewer.
                    .AddView(_ => new MetricStreamConfiguration { CardinalityLimit = options.MaxSeriesPerMetric });
                if (options.Prometheus) metrics.AddPrometheusExporter();
            });
        if (otlp is not null)
        {
            telemetry.WithTracing(tracing => tracing.AddSource(ActivitySources)
                .SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(options.TraceSampleRatio)))
                .AddAspNetCoreInstrumentation(o => o.Filter = http => !IsProbe(http.Request.Path))
                .AddHttpClientInstrumentation());
            telemetry.WithLogging();
            telemetry.UseOtlpExporter(OpenTelemetry.Exporter.OtlpExportProtocol.Grpc, otlp);
        }
        return builder;
    }

    static bool IsProbe(PathString path) =>
        path.StartsWithSegments("/healthz") || path.StartsWithSegments("/readyz")
        || path.StartsWithSegments("/metrics");

    /// <summary>Orleans call tracing, and the dashboard's collectors when it is on.</summary>
    public static ISiloBuilder AddCatalogsTelemetry(this ISiloBuilder silo, IConfiguration configuration)
    {
        silo.AddActivityPropagation();
        if (Telemetry(configuration).Dashboard) silo.AddDashboard();
        return silo;
    }

    public static IClientBuilder AddCatalogsTelemetry(this IClientBuilder client, IConfiguration configuration)
    {
        client.AddActivityPropagation();
        if (Telemetry(configuration).Dashboard) client.AddDashboard();
        return client;
    }

    /// <summary><c>/healthz</c>: the process serves HTTP. <c>/readyz</c>: the checks tagged <c>ready</c> pass.
    /// <c>/metrics</c>: Prometheus. <c>/dashboard</c>: the Orleans Dashboard, when on.</summary>
    public static WebApplication MapCatalogsDefaultEndpoints(this WebApplication app)
    {
        app.MapHealthChecks("/healthz", new() { Predicate = _ => false }).WithTags("Health").AllowAnonymous();
        app.MapHealthChecks("/readyz", new()
        {
            Predicate = c => c.Tags.Contains("ready"),
            ResponseWriter = WriteReadinessAsync,
        }).WithTags("Health").AllowAnonymous();
        var options = app.Services.GetRequiredService<TelemetryOptions>();
        if (options.Prometheus) app.MapPrometheusScrapingEndpoint("/metrics").AllowAnonymous();
        if (options.Dashboard) app.MapOrleansDashboard("/dashboard"); // behind the API host's keys, if any
        return app;
    }

    /// <summary>Each check with its verdict and reason, so a probe's log (or a person with curl) sees why a
    /// process is not ready.</summary>
    static Task WriteReadinessAsync(HttpContext context, HealthReport report) =>
        context.Response.WriteAsJsonAsync(new
        {
            status = report.Status.ToString(),
            checks = report.Entries.Select(e => new
            {
                name = e.Key,
                status = e.Value.Status.ToString(),
                description = e.Value.Description ?? e.Value.Exception?.Message,
            }),
        });

    /// <summary>Ready once this silo is an active member of its cluster (it takes grain calls).</summary>
    public static IHealthChecksBuilder AddSiloReadyCheck(this IHealthChecksBuilder checks) =>
        checks.AddCheck<SiloActiveCheck>("silo", tags: ["ready"]);

    sealed class SiloActiveCheck(IClusterMembershipService membership, ILocalSiloDetails silo) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context,
            CancellationToken cancellationToken)
        {
            var status = membership.CurrentSnapshot.GetSiloStatus(silo.SiloAddress);
            return Task.FromResult(status == SiloStatus.Active
                ? HealthCheckResult.Healthy($"{silo.SiloAddress} is active")
                : HealthCheckResult.Unhealthy($"{silo.SiloAddress} is {status}"));
        }
    }
}
