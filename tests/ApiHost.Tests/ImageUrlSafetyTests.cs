using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Catalogs.ApiHost.ImageFetching;
using Catalogs.Tests;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace Catalogs.ApiHost.Tests;

/// <summary>
/// The ApiHost as deployed: no networks allowed beyond the public ones. Host names resolve through a fake
/// resolver, and every connection attempt is recorded by a socket opener that only ever dials loopback: the tests
/// assert refusals happen before any socket is opened, and never send a packet off this machine.
/// </summary>
public sealed class GuardedApiFactory : ApiFactory
{
    public ConcurrentQueue<IPEndPoint> Connections { get; } = new();

    /// <summary>Names the tests use, and what they resolve to. Only <c>images.test</c> is allowed (by name).</summary>
    public static readonly Dictionary<string, IPAddress[]> Names = new()
    {
        ["images.test"] = [IPAddress.Loopback],
        ["loopback.test"] = [IPAddress.Loopback],
        ["private.test"] = [IPAddress.Parse("10.0.0.7")],
        ["metadata.test"] = [IPAddress.Parse("169.254.169.254")],
        ["ula.test"] = [IPAddress.Parse("fd00:ec2::254")],
        ["mapped.test"] = [IPAddress.Parse("::ffff:10.1.2.3")],
        ["nat64.test"] = [IPAddress.Parse("64:ff9b::a00:1")],
        ["cgnat.test"] = [IPAddress.Parse("100.100.100.200")],
        ["multicast.test"] = [IPAddress.Parse("239.1.2.3")],
    };

    protected override void Configure(IWebHostBuilder builder)
    {
        builder.UseSetting("Api:ImageFetch:AllowedHosts:0", "images.test");
        builder.UseSetting("Api:ImageFetch:TimeoutSeconds", "4");
        builder.UseSetting("Api:ImageFetch:ReadTimeoutSeconds", "1");
        builder.UseSetting("Api:ImageFetch:MaxBytes", "2000000");
        builder.ConfigureTestServices(services =>
        {
            services.AddSingleton<IImageHostResolver>(new FakeResolver());
            services.AddSingleton<ISocketOpener>(new RecordingOpener(this));
        });
    }

    sealed class FakeResolver : IImageHostResolver
    {
        public Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken) =>
            Names.TryGetValue(host, out var addresses) ? Task.FromResult(addresses)
                : Task.FromException<IPAddress[]>(new System.Net.Sockets.SocketException(11001));
    }

    sealed class RecordingOpener(GuardedApiFactory factory) : ISocketOpener
    {
        readonly TcpSocketOpener real = new();

        public Task<Stream> OpenAsync(IPEndPoint endpoint, CancellationToken cancellationToken)
        {
            factory.Connections.Enqueue(endpoint);
            // Belt and braces: whatever the policy says, a test never dials off this machine.
            if (!IPAddress.IsLoopback(endpoint.Address))
                throw new InvalidOperationException($"The test tried to connect to {endpoint}.");
            return real.OpenAsync(endpoint, cancellationToken);
        }
    }
}

public class ImageUrlSafetyTests(GuardedApiFactory factory) : IClassFixture<GuardedApiFactory>, IAsyncLifetime
{
    const string Catalog = "/v1/catalogs/url-safety";
    readonly HttpClient http = factory.CreateClient();
    WebApplication? server, healthy;
    int port, healthyPort, requests;

    public async Task InitializeAsync()
    {
        server = await LoopbackServer.StartAsync(app =>
        {
            var photo = File.ReadAllBytes(Directory.GetFiles(TestPaths.Image("clothing/images/Dress")).Order().First());
            app.Use(async (context, next) => { Interlocked.Increment(ref requests); await next(context); });
            app.MapGet("/img", () => Results.File(photo, "image/jpeg"));
            app.MapGet("/html", () => Results.Content("<html></html>", "text/html"));
            app.MapGet("/fail", () => Results.StatusCode(500));
            app.MapGet("/to/{*target}", (string target) => Results.Redirect(Uri.UnescapeDataString(target)));
            app.MapGet("/hops/{n:int}", (int n) => Results.Redirect(n == 0 ? "/img" : $"/hops/{n - 1}"));
            app.MapGet("/big", async (HttpContext c) =>
            {
                c.Response.ContentType = "image/jpeg";
                var chunk = new byte[64 * 1024];
                for (int i = 0; i < 64 && !c.RequestAborted.IsCancellationRequested; i++)
                    await c.Response.Body.WriteAsync(chunk);
            });
            app.MapGet("/trickle", async (HttpContext c) =>
            {
                c.Response.ContentType = "image/jpeg";
                await c.Response.Body.WriteAsync(photo.AsMemory(0, 10));
                await c.Response.Body.FlushAsync();
                for (int i = 10; i < 40 && !c.RequestAborted.IsCancellationRequested; i++)
                {
                    await Task.Delay(1500, c.RequestAborted);
                    await c.Response.Body.WriteAsync(photo.AsMemory(i, 1));
                    await c.Response.Body.FlushAsync();
                }
            });
        });
        port = new Uri(server.Urls.First()).Port;
        healthy = await LoopbackServer.StartAsync(app =>
        {
            var photo = File.ReadAllBytes(Directory.GetFiles(TestPaths.Image("clothing/images/Shoes")).Order().First());
            app.MapGet("/img", () => Results.File(photo, "image/jpeg"));
        });
        healthyPort = new Uri(healthy.Urls.First()).Port;
        var r = await http.PutJson(Catalog,
            new { encoder = new { model = "mobilenetv2-12-int8.onnx", output = "464_quantized" } });
        Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync());
    }

    public async Task DisposeAsync()
    {
        if (server is not null) await server.DisposeAsync();
        if (healthy is not null) await healthy.DisposeAsync();
    }

    Task<HttpResponseMessage> SearchBy(string url) => http.PostJson(Catalog + "/search",
        new { imageUrl = url, neighborCount = 1 });

    async Task<string> Refused(string url)
    {
        var response = await SearchBy(url);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.UnprocessableEntity,
            $"{url}: {(int)response.StatusCode} {body}");
        var detail = System.Text.Json.Nodes.JsonNode.Parse(body)!["detail"]!.GetValue<string>();
        Assert.StartsWith("imageUrl could not be fetched.", detail);
        return detail;
    }

    [Fact]
    public async Task Internal_addresses_are_refused_before_any_socket_connects()
    {
        string[] urls =
        [
            $"http://127.0.0.1:{port}/img", $"http://[::1]:{port}/img", $"http://[::ffff:127.0.0.1]:{port}/img",
            $"http://2130706433:{port}/img", $"http://0.0.0.0:{port}/img", $"http://loopback.test:{port}/img",
            "http://10.0.0.1/img", "http://192.168.1.1/img", "http://172.16.0.1/img",
                "http://169.254.169.254/latest/meta-data/",
            "http://[fe80::1]/img", "http://[fd00:ec2::254]/img", "http://[ff02::1]/img", "http://[::]/img",
            "http://private.test/img", "http://metadata.test/img", "http://ula.test/img", "http://mapped.test/img",
            "http://nat64.test/img", "http://cgnat.test/img", "http://multicast.test/img",
        ];
        foreach (var url in urls) await Refused(url);
        Assert.Empty(factory.Connections);
        Assert.Equal(0, requests);
        // The service's own ports, the Orleans silo's among them, are loopback too.
        await Refused($"http://127.0.0.1:{factory.SiloPort}/");
        Assert.Empty(factory.Connections);
    }

    [Fact]
    public async Task Redirects_are_checked_hop_by_hop_and_bounded()
    {
        // hops/n redirects n + 1 times before the image.
        await (await SearchBy($"http://images.test:{port}/hops/2")).Json(HttpStatusCode.OK);
        await Refused($"http://images.test:{port}/hops/3");
        int before = requests;
        await Refused($"http://images.test:{port}/to/{Uri.EscapeDataString($"http://127.0.0.1:{port}/img")}");
        await Refused($"http://images.test:{port}/to/{Uri.EscapeDataString("http://metadata.test/latest/meta-data/")}");
        await Refused($"http://images.test:{port}/to/{Uri.EscapeDataString("file:///etc/passwd")}");
        await Refused($"http://images.test:{port}/to/{Uri.EscapeDataString($"http://u:p@images.test:{port}/img")}");
        Assert.Equal(before + 4, requests); // the redirecting hops only: none of their targets was fetched
        Assert.All(factory.Connections, c => Assert.True(IPAddress.IsLoopback(c.Address)));
    }

    [Fact]
    public async Task Every_fetch_failure_reads_the_same_so_no_port_state_leaks()
    {
        int closed = ApiFactory.FreePort();
        var details = new[]
        {
            await Refused($"http://images.test:{closed}/img"),          // closed port
            await Refused($"http://images.test:{port}/missing"),       // 404
            await Refused($"http://images.test:{port}/fail"),          // 500
            await Refused($"http://images.test:{port}/html"),          // not an image
            await Refused($"http://images.test:{port}/big"),           // over the size limit while streaming
            await Refused($"http://images.test:{factory.SiloPort}/"),  // the Orleans port: not HTTP at all
            await Refused("http://no-such-host.test/img"),             // does not resolve
            await Refused("http://private.test/img"),                  // refused by policy
        };
        Assert.Single(details.Distinct());
    }

    [Fact]
    public async Task Static_url_problems_are_400s_that_say_what_is_wrong()
    {
        await SearchBy($"http://user:pw@images.test:{port}/img").Problem(400, "user info");
        await SearchBy("file:///etc/passwd").Problem(400, "http or https");
        await SearchBy("ftp://images.test/img").Problem(400, "http or https");
        await SearchBy("images.test/img").Problem(400, "http or https");
        Assert.Equal(0, requests);
    }

    [Fact]
    public async Task A_trickling_server_is_cut_off_by_the_read_timeout()
    {
        var clock = Stopwatch.StartNew();
        await Refused($"http://images.test:{port}/trickle");
        // One byte every 1.5 s against a 1 s read timeout and a 4 s deadline: cut off, not held for a minute.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task A_failing_host_never_degrades_fetches_from_other_hosts()
    {
        var photo = File.ReadAllBytes(Directory.GetFiles(TestPaths.Image("clothing/images/Hat")).Order().First());
        await using var flaky = await LoopbackServer.StartAsync(app =>
        {
            app.MapGet("/fail", () => Results.StatusCode(503));
            app.MapGet("/img", () => Results.File(photo, "image/jpeg"));
        });
        int flakyPort = new Uri(flaky.Urls.First()).Port;
        var failing = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ =>
            SearchBy($"http://images.test:{flakyPort}/fail")));
        Assert.All(failing, r => Assert.Equal(HttpStatusCode.UnprocessableEntity, r.StatusCode));
        // The failing host's circuit is open now: even its good image is refused without being asked for...
        await Refused($"http://images.test:{flakyPort}/img");
        // ...while another host (another port, another circuit) answers as always.
        for (int i = 0; i < 5; i++)
            await (await SearchBy($"http://images.test:{healthyPort}/img")).Json(HttpStatusCode.OK);
    }
}
