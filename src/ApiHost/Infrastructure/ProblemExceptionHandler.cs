using System.Text.Json;
using Catalogs.Grains;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;

namespace Catalogs.ApiHost.Infrastructure;

/// <summary>Turns every refusal — ours, the grains', Kestrel's, the JSON reader's — into problem+json. Each is
/// first read as a <see cref="CatalogError"/>; <see cref="StatusOf"/> is the one place that gives it a status
/// code. Anything else is a 500 without internals.</summary>
public sealed class ProblemExceptionHandler(IProblemDetailsService problems, ILogger<ProblemExceptionHandler> logger)
    : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(
        HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        var (status, detail) = exception switch
        {
            OperationCanceledException when context.RequestAborted.IsCancellationRequested =>
                (StatusCodes.Status499ClientClosedRequest, "The client closed the request."),
            // Kestrel's refusals of the HTTP exchange itself (408, 431, ...) keep Kestrel's status.
            BadHttpRequestException
            {
                StatusCode: not (StatusCodes.Status400BadRequest
                or StatusCodes.Status413PayloadTooLarge)
            } b => (b.StatusCode, b.Message),
            _ when Refusal(exception) is var (error, message) => (StatusOf(error), message),
            _ => (StatusCodes.Status500InternalServerError, "An unexpected error occurred."),
        };
        if (status == StatusCodes.Status503ServiceUnavailable)
            logger.LogWarning("{Method} {Path}: {Detail}", context.Request.Method, context.Request.Path, detail);
        else if (status >= 500)
            logger.LogError(exception, "Unhandled error on {Method} {Path}", context.Request.Method,
                context.Request.Path);
        context.Response.StatusCode = status;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            Exception = exception,
            ProblemDetails = new ProblemDetails { Status = status, Title = Title(status), Detail = detail },
        });
    }

    public static int StatusOf(CatalogError error) => error switch
    {
        CatalogError.Malformed => StatusCodes.Status400BadRequest,
        CatalogError.Invalid => StatusCodes.Status422UnprocessableEntity,
        CatalogError.NotFound => StatusCodes.Status404NotFound,
        CatalogError.Conflict => StatusCodes.Status409Conflict,
        CatalogError.UnsupportedMedia => StatusCodes.Status415UnsupportedMediaType,
        CatalogError.TooLarge => StatusCodes.Status413PayloadTooLarge,
        CatalogError.QuotaExceeded => StatusCodes.Status403Forbidden,
        CatalogError.Unavailable => StatusCodes.Status503ServiceUnavailable,
        _ => StatusCodes.Status500InternalServerError,
    };

    /// <summary>What kind of refusal an exception is, and what to tell the client; null for a fault of ours.</summary>
    static (CatalogError, string)? Refusal(Exception exception) => exception switch
    {
        CatalogRequestException c => (c.Error, c.Message),
        // A silo holding part of the catalog died or is being replaced: its grains come back elsewhere shortly.
        _ when Unavailability.IsTransient(exception) => (CatalogError.Unavailable,
            "Part of the cluster holding this catalog is unavailable right now; retry shortly."),
        BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } =>
            (CatalogError.TooLarge, "The request body is larger than the limit."),
        BadHttpRequestException b => (CatalogError.Malformed, b.Message),
        JsonException j => (CatalogError.Malformed, "Malformed JSON: " + j.Message),
        InvalidDataException d when d.Message.Contains("length limit", StringComparison.OrdinalIgnoreCase) =>
            (CatalogError.TooLarge, "The request body is larger than the limit: " + d.Message),
        InvalidDataException d => (CatalogError.Malformed, d.Message), // malformed multipart
        _ => null,
    };

    static string Title(int status) => status switch
    {
        400 => "Bad request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not found",
        409 => "Conflict",
        413 => "Content too large",
        415 => "Unsupported media type",
        422 => "Unprocessable content",
        429 => "Too many requests",
        499 => "Client closed request",
        503 => "Service unavailable",
        _ => "Error",
    };
}
