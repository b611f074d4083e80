using System.Net.Sockets;
using System.Text;

namespace Catalogs.ApiHost.Tests;

/// <summary>HTTP/1.1 over a plain socket, so a request target reaches the server byte for byte: HttpClient
/// normalises '..' and '%2e' away before sending.</summary>
static class RawHttp
{
    public static async Task<(int Status, string Body)> SendAsync(Uri server, string method, string target,
        string? contentType = null, byte[]? body = null)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.Host, server.Port);
        var stream = tcp.GetStream();
        var head = new StringBuilder($"{method} {target} HTTP/1.1\r\nHost: {server.Authority}\r\nConnection: " +
            $"close\r\n");
        if (contentType is not null) head.Append($"Content-Type: {contentType}\r\n");
        head.Append($"Content-Length: {body?.Length ?? 0}\r\n\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head.ToString()));
        if (body is not null) await stream.WriteAsync(body);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var response = await reader.ReadToEndAsync();
        int status = int.Parse(response.Split(' ', 3)[1]);
        int split = response.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        return (status, split >= 0 ? response[(split + 4)..] : "");
    }
}

/// <summary>The ApiHost on real Kestrel at a loopback port, for requests that must reach the server
/// unchanged.</summary>
public sealed class KestrelApiFactory : ApiFactory
{
    public KestrelApiFactory() => UseKestrel(0);

    public Uri Address
    {
        get
        {
            StartServer();
            return CreateClient().BaseAddress!;
        }
    }
}
