using System.ComponentModel.DataAnnotations;
using System.Net;

namespace Catalogs.ApiHost.ImageFetching;

/// <summary>How <c>imageUrl</c>s are fetched (section <c>Api:ImageFetch</c>), validated at start-up.</summary>
public sealed class ImageFetchOptions : IValidatableObject
{
    public const string Section = "Api:ImageFetch";

    /// <summary>The whole fetch, redirects and body included.</summary>
    [Range(1, 300)] public int TimeoutSeconds { get; set; } = 10;

    /// <summary>Longest wait for the next bytes of a response.</summary>
    [Range(1, 300)] public int ReadTimeoutSeconds { get; set; } = 5;

    [Range(0, 10)] public int MaxRedirects { get; set; } = 3;

    /// <summary>Largest image, enforced while the body streams.</summary>
    [Range(1024, 1L << 31)] public long MaxBytes { get; set; } = 20 * 1024 * 1024;

    /// <summary>Networks (CIDR, e.g. <c>10.20.0.0/16</c>) that may be fetched from although they are private,
    /// loopback or link-local: for operators whose image hosts are internal, and for tests.</summary>
    public string[] AllowedNetworks { get; set; } = [];

    /// <summary>Host names that may be fetched from whatever addresses they resolve to.</summary>
    public string[] AllowedHosts { get; set; } = [];

    public TimeSpan Timeout => TimeSpan.FromSeconds(TimeoutSeconds);
    public TimeSpan ReadTimeout => TimeSpan.FromSeconds(ReadTimeoutSeconds);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext) =>
        AllowedNetworks.Where(n => !IPNetwork.TryParse(n, out _))
            .Select(n => new ValidationResult($"{Section}:AllowedNetworks: '{n}' is not a network in CIDR notation."));
}
