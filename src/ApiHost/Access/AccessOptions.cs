using System.ComponentModel.DataAnnotations;

namespace Catalogs.ApiHost.Access;

/// <summary>Who may call the API (section <c>Access</c>), validated at start-up.</summary>
public sealed class AccessOptions
{
    public const string Section = "Access";

    /// <summary>The operator's key, guarding <c>/v1/admin</c> (tenants and their keys); also read from
    /// <c>CATALOGS_OPERATOR_KEY</c>. Required outside Development; in Development one is generated into the data
    /// directory on first start when none is set.</summary>
    [MinLength(32)] public string? OperatorKey { get; set; }

    /// <summary>The tenant a request without a key acts as, with <see cref="AnonymousScopes"/> and no rate limit.
    /// Development defaults to <c>default</c> with every scope (the README's curl examples and the demo);
    /// elsewhere, null: no request without a key is served.</summary>
    [RegularExpression("^[a-z0-9-]{1,63}$")] public string? AnonymousTenant { get; set; }

    public Grains.ApiKeyScopes AnonymousScopes { get; set; } =
        Grains.ApiKeyScopes.Search | Grains.ApiKeyScopes.Write | Grains.ApiKeyScopes.Admin;

    /// <summary>How long an API host trusts a verified key before asking its tenant again: a key revoked through
    /// another API host stops working within this time (at once on the host that revoked it).</summary>
    public TimeSpan KeyCacheTtl { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a rotated key keeps working beside its replacement, unless the rotation says.</summary>
    public TimeSpan RotationGrace { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Requests per second (and burst) of a tenant whose settings name no rate limit.</summary>
    [Range(1, 1_000_000)] public int DefaultRequestsPerSecond { get; set; } = 1000;

    [Range(1, 1_000_000)] public int DefaultBurst { get; set; } = 2000;

    /// <summary>How stale the product count checked against a tenant's product quota may be.</summary>
    public TimeSpan UsageCacheTtl { get; set; } = TimeSpan.FromSeconds(5);
}
