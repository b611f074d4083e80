using System.ComponentModel.DataAnnotations;

namespace Catalogs.ServiceDefaults;

/// <summary>What a process reports and where (section <c>Telemetry</c>).</summary>
public sealed class TelemetryOptions
{
    public const string Section = "Telemetry";

    /// <summary>An OpenTelemetry collector (OTLP over gRPC, e.g. <c>http://otel-collector:4317</c>) that receives
    /// traces, metrics and logs; none by default. The standard <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> variable works
    /// too.</summary>
    public Uri? OtlpEndpoint { get; set; }

    /// <summary>Metrics in the Prometheus text format at <c>/metrics</c>.</summary>
    public bool Prometheus { get; set; } = true;

    /// <summary>The Orleans Dashboard at <c>/dashboard</c> (grain calls, activations, silos). On every silo and on
    /// the API hosts that serve it: set it for the whole deployment.</summary>
    public bool Dashboard { get; set; }

    /// <summary>Share of requests traced when an OTLP endpoint is set (parent-based: a traced caller's choice
    /// wins).</summary>
    [Range(0.0, 1.0)]
    public double TraceSampleRatio { get; set; } = 1.0;

    /// <summary>Distinct tag sets kept per metric (OpenTelemetry's cardinality limit); later ones are counted
    /// under an overflow series. Every stream allocates this many points when it starts.</summary>
    [Range(10, 100_000)]
    public int MaxSeriesPerMetric { get; set; } = 500;
}
