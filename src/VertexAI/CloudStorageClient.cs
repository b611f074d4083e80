using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Options;

namespace Catalogs.VertexAI;

/// <summary>Cloud Storage over its JSON API: resumable uploads (chunked, resumed after a failed chunk), downloads,
/// listing and deletes.</summary>
public sealed class CloudStorageClient(HttpClient http, IOptions<VertexOptions> options)
{
    /// <summary>Upload chunk size: a multiple of 256 KiB, as the resumable protocol requires.</summary>
    public int ChunkSize { get; init; } = 8 << 20;

    Uri Root => options.Value.StorageRoot;

    static string Escape(string name) => Uri.EscapeDataString(name);

    /// <summary>Uploads <paramref name="content"/> as <c>gs://bucket/name</c> with the resumable protocol.</summary>
    public async Task<StorageObject> UploadAsync(string bucket, string name, Stream content, string contentType = "application/octet-stream", CancellationToken cancellationToken = default)
    {
        if (ChunkSize % (256 << 10) != 0) throw new InvalidOperationException("ChunkSize must be a multiple of 256 KiB.");
        using var start = new HttpRequestMessage(HttpMethod.Post, new Uri(Root, $"upload/storage/v1/b/{Escape(bucket)}/o?uploadType=resumable&name={Escape(name)}"))
        {
            Content = JsonContent.Create(new { name, contentType }, options: GoogleJson.Options),
        };
        start.Headers.Add("X-Upload-Content-Type", contentType);
        Uri session;
        using (var response = await http.SendAsync(start, cancellationToken))
        {
            if (!response.IsSuccessStatusCode) throw await GoogleApiException.FromResponseAsync(response, cancellationToken);
            session = response.Headers.Location ?? throw new GoogleApiException(response.StatusCode, "INTERNAL", "The resumable upload answer has no session URI.");
        }

        var buffer = new byte[ChunkSize];
        var reader = new ChunkReader(content);
        long offset = 0;
        while (true)
        {
            int filled = await reader.FillAsync(buffer, cancellationToken);
            bool last = filled < buffer.Length || await reader.AtEndAsync(cancellationToken);
            long? total = last ? offset + filled : null;
            int sent = 0;
            while (true)
            {
                var (done, persisted) = await PutChunkAsync(session, buffer.AsMemory(sent, filled - sent), offset + sent, total, cancellationToken);
                if (done is not null) return done;
                // The server may keep less than was sent (a dropped connection): send the rest of the chunk again.
                int kept = (int)(persisted - offset);
                if (kept >= filled) break;
                sent = kept;
            }
            offset += filled;
            if (last) throw new GoogleApiException(HttpStatusCode.InternalServerError, "INTERNAL", "The upload ended without the object.");
        }
    }

    /// <summary>Reads a stream chunk by chunk and tells whether it ended, without needing it to be seekable.</summary>
    sealed class ChunkReader(Stream content)
    {
        int peeked = -1;

        public async Task<int> FillAsync(byte[] buffer, CancellationToken cancellationToken)
        {
            int filled = 0;
            if (peeked >= 0)
            {
                buffer[filled++] = (byte)peeked;
                peeked = -1;
            }
            while (filled < buffer.Length)
            {
                int n = await content.ReadAsync(buffer.AsMemory(filled), cancellationToken);
                if (n == 0) break;
                filled += n;
            }
            return filled;
        }

        public async Task<bool> AtEndAsync(CancellationToken cancellationToken)
        {
            var one = new byte[1];
            if (await content.ReadAsync(one, cancellationToken) == 0) return true;
            peeked = one[0];
            return false;
        }
    }

    const int ChunkAttempts = 10;

    /// <summary>Sends one chunk. After a failed attempt it first asks the server how much it holds (a dropped answer
    /// may hide a stored chunk), then resends. Returns the object once the upload is complete, else the number of
    /// bytes the server has persisted.</summary>
    async Task<(StorageObject? Done, long Persisted)> PutChunkAsync(Uri session, ReadOnlyMemory<byte> chunk, long offset, long? total, CancellationToken cancellationToken)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                if (attempt > 0)
                {
                    using var status = new HttpRequestMessage(HttpMethod.Put, session) { Content = new ByteArrayContent([]) };
                    status.Content.Headers.TryAddWithoutValidation("Content-Range", total is long all ? $"bytes */{all}" : "bytes */*");
                    using var statusResponse = await http.SendAsync(status, cancellationToken);
                    if (statusResponse.IsSuccessStatusCode) return ((await statusResponse.Content.ReadFromJsonAsync<StorageObject>(GoogleJson.Options, cancellationToken))!, offset + chunk.Length);
                    if (statusResponse.StatusCode != (HttpStatusCode)308) throw await GoogleApiException.FromResponseAsync(statusResponse, cancellationToken);
                    long persisted = Persisted(statusResponse);
                    if (persisted > offset) return (null, persisted);
                }
                using var put = new HttpRequestMessage(HttpMethod.Put, session) { Content = new ReadOnlyMemoryContent(chunk) };
                put.Content.Headers.ContentRange = chunk.Length == 0
                    ? new ContentRangeHeaderValue(total!.Value)
                    : total is long t ? new ContentRangeHeaderValue(offset, offset + chunk.Length - 1, t) : new ContentRangeHeaderValue(offset, offset + chunk.Length - 1);
                using var response = await http.SendAsync(put, cancellationToken);
                if (response.StatusCode == (HttpStatusCode)308) return (null, Persisted(response));
                if (response.IsSuccessStatusCode) return ((await response.Content.ReadFromJsonAsync<StorageObject>(GoogleJson.Options, cancellationToken))!, offset + chunk.Length);
                throw await GoogleApiException.FromResponseAsync(response, cancellationToken);
            }
            catch (Exception ex) when (attempt < ChunkAttempts - 1 && GoogleApiException.IsTransientFailure(ex) && !cancellationToken.IsCancellationRequested) { }
            await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(2_000, 50 << attempt) * (0.5 + Random.Shared.NextDouble())), cancellationToken);
        }
    }

    /// <summary>The persisted byte count from a 308's <c>Range: bytes=0-N</c> (none yet: 0).</summary>
    static long Persisted(HttpResponseMessage response) =>
        response.Headers.TryGetValues("Range", out var values) && values.FirstOrDefault() is { } range && range.StartsWith("bytes=0-", StringComparison.Ordinal)
            ? long.Parse(range["bytes=0-".Length..]) + 1
            : 0;

    /// <summary>The object's bytes; null when it does not exist.</summary>
    public async Task<byte[]?> DownloadAsync(string bucket, string name, CancellationToken cancellationToken = default)
    {
        using var response = await http.GetAsync(new Uri(Root, $"storage/v1/b/{Escape(bucket)}/o/{Escape(name)}?alt=media"), cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound) return null;
        if (!response.IsSuccessStatusCode) throw await GoogleApiException.FromResponseAsync(response, cancellationToken);
        return await response.Content.ReadAsByteArrayAsync(cancellationToken);
    }

    /// <summary>Every object whose name starts with <paramref name="prefix"/>, page by page.</summary>
    public async IAsyncEnumerable<StorageObject> ListAsync(string bucket, string prefix = "", [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        string? page = null;
        do
        {
            var uri = $"storage/v1/b/{Escape(bucket)}/o?prefix={Escape(prefix)}" + (page is null ? "" : $"&pageToken={Escape(page)}");
            using var response = await http.GetAsync(new Uri(Root, uri), cancellationToken);
            if (!response.IsSuccessStatusCode) throw await GoogleApiException.FromResponseAsync(response, cancellationToken);
            var list = (await response.Content.ReadFromJsonAsync<StorageObjectList>(GoogleJson.Options, cancellationToken))!;
            foreach (var item in list.Items ?? []) yield return item;
            page = list.NextPageToken;
        } while (page is not null);
    }

    /// <summary>Deletes an object; false when it did not exist.</summary>
    public async Task<bool> DeleteAsync(string bucket, string name, CancellationToken cancellationToken = default)
    {
        using var response = await http.DeleteAsync(new Uri(Root, $"storage/v1/b/{Escape(bucket)}/o/{Escape(name)}"), cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound) return false;
        if (!response.IsSuccessStatusCode) throw await GoogleApiException.FromResponseAsync(response, cancellationToken);
        return true;
    }
}
