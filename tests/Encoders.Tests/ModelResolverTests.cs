using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Catalogs.Tests;

namespace Catalogs.Encoders.Tests;

/// <summary>Model lookup and download with SHA-256 verification, against a loopback HTTP server.</summary>
public sealed class ModelResolverTests : IDisposable
{
    readonly HttpListener server = new();
    readonly string baseUrl;
    readonly byte[] model = RandomNumberGenerator.GetBytes(100_000);
    int requests;

    public ModelResolverTests()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        baseUrl = $"http://127.0.0.1:{port}/";
        server.Prefixes.Add(baseUrl);
        server.Start();
        _ = Task.Run(async () =>
        {
            while (server.IsListening)
            {
                HttpListenerContext context;
                try { context = await server.GetContextAsync(); } catch { return; }
                Interlocked.Increment(ref requests);
                if (context.Request.Url!.AbsolutePath == "/model.onnx")
                    await context.Response.OutputStream.WriteAsync(model);
                else context.Response.StatusCode = 404;
                context.Response.Close();
            }
        });
    }

    ModelResolver Resolver(string downloads, string checksum) => new(new HttpClient(), new ModelResolverOptions(
        SearchPaths: [TestPaths.NewTempDirectory("models-empty"), downloads],
        DownloadDirectory: downloads,
        Sources: new Dictionary<string,
            Uri>
        { ["m.onnx"] = new(baseUrl + "model.onnx"), ["gone.onnx"] = new(baseUrl + "gone.onnx") },
        Checksums: new Dictionary<string, string> { ["m.onnx"] = checksum, ["gone.onnx"] = checksum }));

    [Fact]
    public async Task A_missing_model_is_downloaded_verified_and_then_found_locally()
    {
        var downloads = TestPaths.NewTempDirectory("models-dl");
        var resolver = Resolver(downloads, Convert.ToHexStringLower(SHA256.HashData(model)));
        Assert.Null(resolver.FindLocal("m.onnx"));
        var path = await resolver.ResolveAsync("m.onnx");
        Assert.Equal(Path.Combine(downloads, "m.onnx"), path);
        Assert.Equal(model, await File.ReadAllBytesAsync(path));
        Assert.Equal(path, await resolver.ResolveAsync("m.onnx"));
        Assert.Equal(1, requests); // the second call found the file
    }

    [Fact]
    public async Task A_download_with_the_wrong_checksum_is_discarded()
    {
        var downloads = TestPaths.NewTempDirectory("models-bad");
        var resolver = Resolver(downloads, new string('0', 64));
        var ex = await Assert.ThrowsAsync<InvalidDataException>(() => resolver.ResolveAsync("m.onnx"));
        Assert.Contains("SHA-256", ex.Message);
        Assert.Empty(Directory.GetFiles(downloads));
    }

    [Fact]
    public async Task Unknown_unreachable_and_malformed_names_fail_clearly()
    {
        var resolver = Resolver(TestPaths.NewTempDirectory("models-x"), new string('0', 64));
        await Assert.ThrowsAsync<FileNotFoundException>(() => resolver.ResolveAsync("unknown.onnx"));
        await Assert.ThrowsAsync<HttpRequestException>(() => resolver.ResolveAsync("gone.onnx"));
        Assert.Throws<ArgumentException>(() => resolver.FindLocal("../secret.onnx"));
        Assert.False(resolver.IsKnown("../secret.onnx"));
    }

    [Fact]
    public void The_shipped_manifest_knows_the_default_model_and_its_checksum()
    {
        var resolver = new ModelResolver(new HttpClient(),
            new ModelResolverOptions(SearchPaths: [TestPaths.NewTempDirectory("models-none")]));
        Assert.True(resolver.IsKnown("mobilenetv2-12-int8.onnx"));
        var expected = File.ReadAllLines(Path.Combine(TestPaths.ModelsDirectory, "SHA256SUMS")).Single().Split(' ',
            StringSplitOptions.RemoveEmptyEntries)[0];
        using var file = File.OpenRead(TestPaths.Model);
        Assert.Equal(expected, Convert.ToHexStringLower(SHA256.HashData(file)));
    }

    public void Dispose() => server.Close();
}
