using System.Net;
using System.Runtime.CompilerServices;
using Google.Apis.Http;
using Google.Cloud.Storage.V1;
using Microsoft.Extensions.Options;

namespace Catalogs.VertexAI;

/// <summary>Cloud Storage through Google's client library (Google.Cloud.Storage.V1): resumable uploads in chunks,
/// downloads, listing and deletes. Its base URI comes from <see cref="VertexOptions.StorageBase"/> (the emulator in
/// tests), and every request carries a bearer token from <see cref="IAccessTokenSource"/>. Google's errors are turned
/// into <see cref="GoogleApiException"/>, which the callers classify.</summary>
public sealed class CloudStorageClient(IAccessTokenSource tokens, IOptions<VertexOptions> options)
{
    readonly Lazy<StorageClient> client = new(() => new StorageClientBuilder
    {
        BaseUri = new Uri(options.Value.StorageRoot, "storage/v1/").ToString(),
        // Authentication is ours (service-account tokens, possibly from the emulator's token endpoint).
        UnauthenticatedAccess = true,
        HttpClientFactory = new BearerHttpClientFactory(tokens),
    }.Build());

    /// <summary>Upload chunk size: a multiple of 256 KiB, as the resumable protocol requires.</summary>
    public int ChunkSize { get; init; } = 8 << 20;

    /// <summary>Uploads <paramref name="content"/> as <c>gs://bucket/name</c> with the resumable protocol.</summary>
    public async Task<StorageObject> UploadAsync(string bucket, string name, Stream content,
        string contentType = "application/octet-stream", CancellationToken cancellationToken = default)
    {
        if (ChunkSize % (256 << 10) != 0)
            throw new InvalidOperationException("ChunkSize must be a multiple of 256 KiB.");
        var uploader = client.Value.CreateObjectUploader(bucket, name, contentType, content,
            new UploadObjectOptions { ChunkSize = ChunkSize });
        var progress = await uploader.UploadAsync(cancellationToken);
        // A failed chunk (a dropped connection, a 5xx) resumes where the server says it stopped; the uploader still
        // holds the chunk it was sending, so even a stream that cannot seek resumes.
        for (int resumed = 0; progress.Status != Google.Apis.Upload.UploadStatus.Completed; resumed++)
        {
            var failure = progress.Exception ?? new IOException("The upload stopped without an error.");
            if (resumed == MaxResumes || !Resumable(failure)) throw Translate(failure);
            await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(2000, 50 << Math.Min(resumed, 5))), cancellationToken);
            progress = await uploader.ResumeAsync(cancellationToken);
        }
        return From(uploader.ResponseBody);
    }

    /// <summary>How many times one upload resumes after failed chunks before it gives up.</summary>
    public int MaxResumes { get; init; } = 20;

    static bool Resumable(Exception failure) => failure is HttpRequestException or IOException or TaskCanceledException
        || failure is Google.GoogleApiException
        {
            HttpStatusCode: HttpStatusCode.TooManyRequests or >= HttpStatusCode.InternalServerError,
        };

    static Exception Translate(Exception failure) => failure is Google.GoogleApiException ex
        ? new GoogleApiException(ex.HttpStatusCode, ex.Error?.Errors?.FirstOrDefault()?.Reason
            ?? ex.HttpStatusCode.ToString(),
            ex.Error?.Message ?? ex.Message)
        : failure;

    /// <summary>The object's bytes; null when it does not exist.</summary>
    public async Task<byte[]?> DownloadAsync(string bucket, string name, CancellationToken cancellationToken = default)
    {
        var buffer = new MemoryStream();
        try
        {
            await Translated(() => client.Value.DownloadObjectAsync(bucket, name, buffer,
                cancellationToken: cancellationToken));
        }
        catch (GoogleApiException ex) when (ex.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        return buffer.ToArray();
    }

    /// <summary>Every object whose name starts with <paramref name="prefix"/>, page by page.</summary>
    public async IAsyncEnumerable<StorageObject> ListAsync(string bucket, string prefix = "",
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var objects = client.Value.ListObjectsAsync(bucket, prefix).GetAsyncEnumerator(cancellationToken);
        while (await Translated(() => objects.MoveNextAsync().AsTask())) yield return From(objects.Current);
    }

    /// <summary>Deletes an object; false when it did not exist.</summary>
    public async Task<bool> DeleteAsync(string bucket, string name, CancellationToken cancellationToken = default)
    {
        try
        {
            await Translated(async () =>
            {
                await client.Value.DeleteObjectAsync(bucket, name, cancellationToken: cancellationToken);
                return true;
            });
            return true;
        }
        catch (GoogleApiException ex) when (ex.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }
    }

    static StorageObject From(Google.Apis.Storage.v1.Data.Object o) =>
        new(o.Name, o.Bucket, (long?)o.Size, o.ContentType, o.Generation, o.Crc32c);

    static async Task<T> Translated<T>(Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (Google.GoogleApiException ex)
        {
            throw Translate(ex);
        }
    }

    /// <summary>The library's HTTP clients, with a bearer token added to every request.</summary>
    sealed class BearerHttpClientFactory(IAccessTokenSource tokens) : HttpClientFactory
    {
        protected override HttpMessageHandler CreateHandler(CreateHttpClientArgs args) =>
            new GoogleAuthHandler(tokens) { InnerHandler = base.CreateHandler(args) };
    }
}
