using System.ComponentModel.DataAnnotations;

namespace Catalogs.ApiHost.Infrastructure;

/// <summary>Bounds on everything a client may store or send (section <c>Api:Limits</c>), validated at start-up.
/// Each refusal names the setting that bounds it.</summary>
public sealed class RequestLimits
{
    public const string Section = "Api:Limits";

    /// <summary>Product id length in UTF-8 bytes.</summary>
    [Range(1, 1024)] public int MaxIdBytes { get; set; } = 256;

    /// <summary>Restrict and numeric-restrict namespace length in UTF-8 bytes.</summary>
    [Range(1, 1024)] public int MaxNamespaceBytes { get; set; } = 128;

    /// <summary>Restrict token (allow or deny list entry) length in UTF-8 bytes.</summary>
    [Range(1, 4096)] public int MaxTokenBytes { get; set; } = 256;

    /// <summary>Tokens in one restrict (allow and deny lists together).</summary>
    [Range(1, 10_000)] public int MaxTokensPerRestrict { get; set; } = 100;

    /// <summary>Restricts, and numeric restricts, of one datapoint (each list on its own).</summary>
    [Range(1, 1000)] public int MaxRestrictsPerDatapoint { get; set; } = 32;

    /// <summary>Restricts and numeric restricts of one query, together.</summary>
    [Range(1, 1000)] public int MaxRestrictsPerQuery { get; set; } = 64;

    /// <summary>Crowding attribute length in UTF-8 bytes.</summary>
    [Range(1, 4096)] public int MaxCrowdingTagBytes { get; set; } = 256;

    /// <summary>A datapoint's attributes, as compact JSON, in UTF-8 bytes.</summary>
    [Range(2, 1 << 24)] public int MaxAttributesBytes { get; set; } = 16 * 1024;

    /// <summary>Largest absolute value of a vector component: beyond it, distances overflow or lose all
    /// precision.</summary>
    [Range(1.0, 1e30)] public double MaxVectorComponent { get; set; } = 1e6;
}
