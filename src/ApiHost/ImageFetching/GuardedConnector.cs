using System.Net;
using System.Net.Sockets;

namespace Catalogs.ApiHost.ImageFetching;

/// <summary>Resolves host names for image fetches (replaceable, so tests never touch real DNS).</summary>
public interface IImageHostResolver
{
    Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken);
}

public sealed class DnsImageHostResolver : IImageHostResolver
{
    public Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken) =>
        Dns.GetHostAddressesAsync(host, cancellationToken);
}

/// <summary>Opens the TCP connection to an address the policy allowed (replaceable, so tests can see every
/// connection attempt).</summary>
public interface ISocketOpener
{
    Task<Stream> OpenAsync(IPEndPoint endpoint, CancellationToken cancellationToken);
}

public sealed class TcpSocketOpener : ISocketOpener
{
    public async Task<Stream> OpenAsync(IPEndPoint endpoint, CancellationToken cancellationToken)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endpoint, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}

/// <summary>An image URL led to an address the policy refuses.</summary>
public sealed class ImageAddressRefusedException(string host) : Exception($"'{host}' resolves to no allowed address.");

/// <summary>
/// The connect step of the image-fetch client (<c>SocketsHttpHandler.ConnectCallback</c>): resolves the host once,
/// checks every address against <see cref="ImageAddressPolicy"/>, and connects only to an allowed one. Checking at
/// connect time covers literal addresses, names, and every redirect hop; connecting to the address just checked
/// (never resolving again) leaves no window for DNS rebinding.
/// </summary>
public sealed class GuardedConnector(IImageHostResolver resolver, ImageAddressPolicy policy, ISocketOpener opener)
{
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context,
        CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host;
        var addresses = IPAddress.TryParse(host.Trim('[', ']'), out var literal)
            ? [literal]
            : await resolver.ResolveAsync(host, cancellationToken);
        var allowed = addresses.Where(a => policy.IsAllowed(host, a)).ToArray();
        if (allowed.Length == 0) throw new ImageAddressRefusedException(host);
        Exception? failure = null;
        foreach (var address in allowed)
        {
            try
            {
                return await opener.OpenAsync(new IPEndPoint(address, context.DnsEndPoint.Port), cancellationToken);
            }
            catch (SocketException ex)
            {
                failure = ex;
            }
        }
        throw failure!;
    }
}
