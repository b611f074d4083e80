using System.ComponentModel.DataAnnotations;

namespace Catalogs.Grains.Hosting;

/// <summary>How this process takes part (section <c>Cluster</c>): the same binaries run embedded or as cluster
/// members, chosen here alone. Validated at start-up.</summary>
public sealed class DeploymentOptions : IValidatableObject
{
    public const string Section = "Cluster";

    public HostingMode Mode { get; set; } = HostingMode.Embedded;

    /// <summary>Orleans' cluster and service ids: processes with the same ones form one cluster.</summary>
    [Required] public string ClusterId { get; set; } = "catalogs";
    [Required] public string ServiceId { get; set; } = "catalogs";

    /// <summary>Membership: a StackExchange.Redis configuration string (<c>host:port,...</c>).</summary>
    public string? Redis { get; set; }

    /// <summary>Durable state: an Npgsql connection string.</summary>
    public string? Postgres { get; set; }

    /// <summary>The address other silos and clients reach this silo at: an IP address, or a host name (resolved at
    /// start-up: a container's service name). A non-loopback address listens on every interface.</summary>
    [Required] public string AdvertisedAddress { get; set; } = "127.0.0.1";

    /// <summary>Failure detection: a silo missing this many probes of this timeout in a row is voted dead, and its
    /// shards reactivate elsewhere (Orleans' defaults, 5 s × 3, take half a minute).</summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(1);
    [Range(1, 10)] public int MissedProbesLimit { get; set; } = 2;

    /// <summary>How long a grain call waits for its answer (calls marked long-running wait
    /// <see cref="CallTimeouts.Long"/>): a call to a silo that died without a word fails after this, and is
    /// retried by the API host if it is idempotent.</summary>
    public TimeSpan ResponseTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Grain locations a silo remembers (Orleans' directory cache); its table is allocated up front, so
    /// the default million costs ~9 MiB per silo whatever it holds.</summary>
    [Range(1_000, 10_000_000)]
    public int DirectoryCacheSize { get; set; } = 100_000;

    /// <summary>Running as Kubernetes pods (deploy/kubernetes): the silo's name, address and ids come from the pod
    /// (POD_NAME, POD_NAMESPACE, POD_IP, ORLEANS_CLUSTER_ID, ORLEANS_SERVICE_ID), and silos whose pods are gone are
    /// declared dead at once instead of after missed probes.</summary>
    public bool Kubernetes { get; set; }

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Mode != HostingMode.Cluster) yield break;
        if (string.IsNullOrWhiteSpace(Redis))
            yield return new ValidationResult("Cluster:Redis is required in cluster mode (membership).",
                [nameof(Redis)]);
        if (string.IsNullOrWhiteSpace(Postgres))
            yield return new ValidationResult("Cluster:Postgres is required in cluster mode (durable state).",
                [nameof(Postgres)]);
    }
}
