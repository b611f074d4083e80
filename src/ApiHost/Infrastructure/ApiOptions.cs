using System.ComponentModel.DataAnnotations;

namespace Catalogs.ApiHost.Infrastructure;

/// <summary>HTTP-side settings (section <c>Api</c>), validated at start-up.</summary>
public sealed class ApiOptions
{
    public const string Section = "Api";

    /// <summary>Largest request body, images included (default 20 MB); larger bodies get 413.</summary>
    [Range(1024, 1L << 31)] public long MaxRequestBytes { get; set; } = 20 * 1024 * 1024;

    /// <summary>The tenant of work done outside a request (the demo catalogs); a request's tenant is its API
    /// key's (or <c>Access:AnonymousTenant</c>).</summary>
    [Required, RegularExpression("^[a-z0-9-]{1,63}$")] public string Tenant { get; set; } = "default";

    /// <summary>How long an idempotent call (a search, a read, an upsert by id) is retried while part of the
    /// cluster is unavailable (a silo died and its grains are coming back elsewhere), before the client gets
    /// 503.</summary>
    public TimeSpan RetryBudget { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How often an API host in cluster mode asks membership which silos were declared dead (idempotent
    /// calls in flight when one is are sent again).</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00")]
    public TimeSpan SiloWatchInterval { get; set; } = TimeSpan.FromMilliseconds(500);
}
