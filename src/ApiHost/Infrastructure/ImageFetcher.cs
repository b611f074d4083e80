using Microsoft.Extensions.Options;

namespace Catalogs.ApiHost.Infrastructure;

/// <summary>Downloads images named by <c>imageUrl</c> (http/https only), within the request size limit.</summary>
public sealed class ImageFetcher(IHttpClientFactory clients, IOptions<ApiOptions> options)
{
    public const string ClientName = "image-fetch";

    public async Task<byte[]> FetchAsync(string url, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw ApiProblemException.BadRequest($"imageUrl '{url}' is not an absolute http or https URL.");
        var client = clients.CreateClient(ClientName);
        HttpResponseMessage response;
        try
        {
            response = await client.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or TimeoutException or Polly.Timeout.TimeoutRejectedException && !cancellationToken.IsCancellationRequested)
        {
            throw ApiProblemException.Unprocessable($"imageUrl could not be fetched: {ex.Message}");
        }
        using (response)
        {
            if (!response.IsSuccessStatusCode)
                throw ApiProblemException.Unprocessable($"imageUrl could not be fetched: the server answered {(int)response.StatusCode} {response.ReasonPhrase}.");
            long limit = options.Value.MaxRequestBytes;
            if (response.Content.Headers.ContentLength > limit)
                throw new ApiProblemException(StatusCodes.Status413PayloadTooLarge, $"The image at imageUrl is larger than {limit:N0} bytes.");
            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
            using var buffer = new MemoryStream();
            var chunk = new byte[81920];
            int read;
            while ((read = await stream.ReadAsync(chunk, cancellationToken)) > 0)
            {
                if (buffer.Length + read > limit)
                    throw new ApiProblemException(StatusCodes.Status413PayloadTooLarge, $"The image at imageUrl is larger than {limit:N0} bytes.");
                buffer.Write(chunk, 0, read);
            }
            return buffer.ToArray();
        }
    }
}
