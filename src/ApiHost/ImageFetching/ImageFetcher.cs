using Catalogs.ApiHost.Infrastructure;
using Catalogs.Grains;
using Microsoft.Extensions.Options;

namespace Catalogs.ApiHost.ImageFetching;

/// <summary>
/// Downloads the images named by <c>imageUrl</c>: http or https without user info, public addresses only (checked
/// at connect time by <see cref="GuardedConnector"/>), redirects followed by hand and checked hop by hop, a deadline
/// for the whole fetch and a timeout between bytes, the size limit enforced while the body streams, and an image
/// content type. Every failure of the fetch itself answers one and the same 422, so that a caller learns nothing of
/// the network behind it (closed port, other service, internal host); the reason goes to the log.
/// </summary>
public sealed class ImageFetcher(IHttpClientFactory clients, IOptions<ImageFetchOptions> options,
    ILogger<ImageFetcher> logger)
{
    public const string ClientName = "image-fetch";

    ImageFetchOptions Options => options.Value;

    /// <summary>What every failed fetch answers.</summary>
    public string FailureMessage =>
        $"imageUrl could not be fetched. It must name a public http(s) host that answers within " +
            $"{Options.TimeoutSeconds} s, " +
        $"after at most {Options.MaxRedirects} redirects, with an image (image/*) of at most {Options.MaxBytes:N0} " +
            $"bytes.";

    public async Task<byte[]> FetchAsync(string url, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw CatalogRequestException.Malformed($"imageUrl '{RequestValidator.Shorten(url)}' is not an absolute " +
                $"http or https URL.");
        if (uri.UserInfo.Length > 0)
            throw CatalogRequestException.Malformed("imageUrl must not carry user info (user:password@): credentials " +
                "are never sent.");
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(Options.Timeout);
        try
        {
            return await FetchFollowingRedirectsAsync(uri, deadline.Token);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            logger.LogInformation("imageUrl {Url} could not be fetched: {Reason}", uri.GetLeftPart(UriPartial.Path),
                ex.InnerException?.Message is { } inner ? $"{ex.Message} ({inner})" : ex.Message);
            throw CatalogRequestException.Invalid(FailureMessage);
        }
    }

    async Task<byte[]> FetchFollowingRedirectsAsync(Uri uri, CancellationToken cancellationToken)
    {
        var client = clients.CreateClient(ClientName);
        for (int redirects = 0; ; redirects++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, uri);
            request.Headers.Accept.ParseAdd("image/*");
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead,
                cancellationToken);
            if ((int)response.StatusCode is >= 300 and < 400 && response.Headers.Location is { } location)
            {
                if (redirects == Options.MaxRedirects)
                    throw new FetchFailedException($"more than {Options.MaxRedirects} redirects");
                uri = new Uri(uri, location);
                if (uri.Scheme is not ("http" or "https") || uri.UserInfo.Length > 0)
                    throw new FetchFailedException($"a redirect to {uri.Scheme}: URLs or URLs with user info");
                continue;
            }
            if (!response.IsSuccessStatusCode)
                throw new FetchFailedException($"the server answered {(int)response.StatusCode}");
            var type = response.Content.Headers.ContentType?.MediaType;
            if (type is not null && !type.StartsWith("image/", StringComparison.OrdinalIgnoreCase)
                && type is not ("application/octet-stream" or "binary/octet-stream"))
                throw new FetchFailedException($"content type {type}");
            if (response.Content.Headers.ContentLength > Options.MaxBytes)
                throw new FetchFailedException($"{response.Content.Headers.ContentLength:N0} bytes announced");
            return await ReadBoundedAsync(response.Content, cancellationToken);
        }
    }

    /// <summary>The body, refused as soon as it passes the size limit or stalls for longer than the read
    /// timeout.</summary>
    async Task<byte[]> ReadBoundedAsync(HttpContent content, CancellationToken cancellationToken)
    {
        await using var stream = await content.ReadAsStreamAsync(cancellationToken);
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        while (true)
        {
            idle.CancelAfter(Options.ReadTimeout);
            int read = await stream.ReadAsync(chunk, idle.Token);
            if (read == 0) return buffer.ToArray();
            if (buffer.Length + read > Options.MaxBytes)
                throw new FetchFailedException($"more than {Options.MaxBytes:N0} bytes");
            buffer.Write(chunk, 0, read);
        }
    }

    sealed class FetchFailedException(string reason) : Exception(reason);
}
