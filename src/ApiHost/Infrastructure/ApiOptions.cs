using System.ComponentModel.DataAnnotations;

namespace Catalogs.ApiHost.Infrastructure;

/// <summary>HTTP-side settings (section <c>Api</c>), validated at start-up.</summary>
public sealed class ApiOptions
{
    public const string Section = "Api";

    /// <summary>Largest request body, images included (default 20 MB); larger bodies get 413.</summary>
    [Range(1024, 1L << 31)] public long MaxRequestBytes { get; set; } = 20 * 1024 * 1024;

    /// <summary>The tenant that owns the catalogs served here (multi-tenant routing comes with
    /// authentication).</summary>
    [Required, RegularExpression("^[a-z0-9-]{1,63}$")] public string Tenant { get; set; } = "default";
}
