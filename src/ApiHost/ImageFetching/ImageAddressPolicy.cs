using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace Catalogs.ApiHost.ImageFetching;

/// <summary>
/// Which addresses an <c>imageUrl</c> may reach: public unicast only, unless configured otherwise. Loopback,
/// private, shared (CGNAT), link-local (cloud metadata at 169.254.169.254), unique-local, site-local, multicast,
/// unspecified, broadcast, documentation and benchmarking ranges are refused; IPv6 forms that carry an IPv4
/// address (mapped, compatible, NAT64, 6to4) are judged by that address, and Teredo is refused.
/// </summary>
public sealed class ImageAddressPolicy(IOptions<ImageFetchOptions> options)
{
    static readonly IPNetwork[] RefusedV4 = Parse("0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8",
        "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
        "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4");

    static readonly IPNetwork[] RefusedV6 = Parse("::/128", "::1/128", "64:ff9b:1::/48", "100::/64", "2001::/32",
        "2001:db8::/32", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8");

    static readonly IPNetwork Nat64 = IPNetwork.Parse("64:ff9b::/96"), SixToFour = IPNetwork.Parse("2002::/16"),
        Compatible = IPNetwork.Parse("::/96");

    readonly IPNetwork[] allowedNetworks = options.Value.AllowedNetworks.Select(IPNetwork.Parse).ToArray();
    readonly HashSet<string> allowedHosts = new(options.Value.AllowedHosts, StringComparer.OrdinalIgnoreCase);

    static IPNetwork[] Parse(params string[] networks) => networks.Select(IPNetwork.Parse).ToArray();

    /// <summary>May <paramref name="host"/>, resolved to <paramref name="address"/>, be connected to?</summary>
    public bool IsAllowed(string host, IPAddress address) =>
        allowedHosts.Contains(host) || allowedNetworks.Any(n => n.Contains(address) ||
            address.IsIPv4MappedToIPv6 && n.Contains(address.MapToIPv4())) || IsPublic(address);

    public static bool IsPublic(IPAddress address)
    {
        if (address.AddressFamily == AddressFamily.InterNetwork) return !RefusedV4.Any(n => n.Contains(address));
        if (address.AddressFamily != AddressFamily.InterNetworkV6) return false;
        if (address.IsIPv4MappedToIPv6) return IsPublic(address.MapToIPv4());
        var bytes = address.GetAddressBytes();
        if (Nat64.Contains(address)) return IsPublic(new IPAddress(bytes[12..]));
        if (SixToFour.Contains(address)) return IsPublic(new IPAddress(bytes[2..6]));
        if (Compatible.Contains(address)) return false; // deprecated IPv4-compatible form, and :: and ::1
        return !RefusedV6.Any(n => n.Contains(address));
    }
}
