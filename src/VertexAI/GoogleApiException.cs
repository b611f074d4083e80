using System.Net;
using System.Text.Json;

namespace Catalogs.VertexAI;

/// <summary>An error answer of a Google API (<c>{"error": {"code", "message", "status"}}</c>).</summary>
public sealed class GoogleApiException(HttpStatusCode statusCode, string status, string message)
    : Exception($"{(int)statusCode} {status}: {message}")
{
    public HttpStatusCode StatusCode { get; } = statusCode;

    /// <summary>The canonical code name, e.g. INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNAVAILABLE.</summary>
    public string Status { get; } = status;

    public string ApiMessage { get; } = message;

    /// <summary>Worth retrying: throttling, server errors and timeouts; never a rejected request.</summary>
    public bool IsTransient => StatusCode is HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout
        || (int)StatusCode >= 500;

    /// <summary>Any failure worth retrying later: a transient API error, a network failure or timeout, or the
    /// resilience pipeline refusing (open circuit, attempt timeout).</summary>
    public static bool IsTransientFailure(Exception ex) =>
        ex is GoogleApiException { IsTransient: true } or HttpRequestException or TimeoutException or IOException
            or OperationCanceledException or Polly.ExecutionRejectedException;

    internal static async Task<GoogleApiException> FromResponseAsync(HttpResponseMessage response,
        CancellationToken cancellationToken)
    {
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        try
        {
            using var doc = JsonDocument.Parse(body);
            var error = doc.RootElement.GetProperty("error");
            return new GoogleApiException(response.StatusCode,
                error.TryGetProperty("status", out var s) ? s.GetString() ?? "" : response.StatusCode.ToString(),
                error.TryGetProperty("message", out var m) ? m.GetString() ?? "" : body);
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return new GoogleApiException(response.StatusCode, response.StatusCode.ToString(), body.Length > 500
                ? body[..500] : body);
        }
    }
}
