using Catalogs.VertexEmulator;

namespace Catalogs.VertexAI.Tests;

public class CloudStorageClientTests(EmulatorFixture emulator) : IClassFixture<EmulatorFixture>
{
    [Fact]
    public async Task A_chunked_resumable_upload_survives_dropped_connections_and_downloads_intact()
    {
        var bytes = new byte[1_300_000];
        new Random(1).NextBytes(bytes);
        var storage = new CloudStorageClient(new FixedToken(emulator),
            Microsoft.Extensions.Options.Options.Create(new VertexOptions { StorageBase = emulator.BaseAddress }))
        { ChunkSize = 256 << 10 };
        try
        {
            // A third of the chunk requests lose their connection, before or after the server took the bytes.
            await emulator.SetFaultsAsync(new FaultSettings(DropBeforeRate: 0.15, DropAfterRate: 0.2,
                PathContains: "upload_id", Seed: 3));
            var stored = await storage.UploadAsync("bucket-a", "big/blob.bin", new NonSeekable(bytes));
            Assert.Equal(bytes.Length, stored.Size);
        }
        finally { await emulator.SetFaultsAsync(new FaultSettings()); }
        var stats = await emulator.StatsAsync();
        Assert.True(stats.DroppedBefore + stats.DroppedAfter > 0, "faults were injected");
        var downloaded = await storage.DownloadAsync("bucket-a", "big/blob.bin");
        Assert.True(bytes.AsSpan().SequenceEqual(downloaded), "the download equals the upload");
    }

    [Fact]
    public async Task Listing_pages_through_a_prefix_and_deletes_report_what_existed()
    {
        for (int i = 0; i < 130; i++)
            await emulator.Storage.UploadAsync("bucket-b", $"exports/{i:D3}.json", new MemoryStream([(byte)i]));
        await emulator.Storage.UploadAsync("bucket-b", "other/x.json", new MemoryStream([1]));
        var names = new List<string>();
        await foreach (var o in emulator.Storage.ListAsync("bucket-b", "exports/")) names.Add(o.Name);
        Assert.Equal(Enumerable.Range(0, 130).Select(i => $"exports/{i:D3}.json"), names); // more than one page of 100
        Assert.Equal(new byte[] { 7 }, await emulator.Storage.DownloadAsync("bucket-b", "exports/007.json"));
        Assert.True(await emulator.Storage.DeleteAsync("bucket-b", "exports/007.json"));
        Assert.False(await emulator.Storage.DeleteAsync("bucket-b", "exports/007.json"));
        Assert.Null(await emulator.Storage.DownloadAsync("bucket-b", "exports/007.json"));
    }

    /// <summary>The fixture's token, fetched through its own authenticated client once.</summary>
    sealed class FixedToken(EmulatorFixture emulator) : IAccessTokenSource
    {
        readonly GoogleCredentialTokenSource inner =
            new(Microsoft.Extensions.Options.Options.Create(new VertexOptions { CredentialsFile = emulator.KeyFile }));
        public Task<string?> GetAccessTokenAsync(CancellationToken cancellationToken) =>
            inner.GetAccessTokenAsync(cancellationToken);
    }

    /// <summary>A stream that cannot seek, as a network or pipe stream.</summary>
    sealed class NonSeekable(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;
    }
}
