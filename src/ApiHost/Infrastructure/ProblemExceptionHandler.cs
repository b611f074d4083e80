using System.Text.Json;
using Catalogs.Grains;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;

namespace Catalogs.ApiHost.Infrastructure;

/// <summary>Turns every refusal — ours, the grains', Kestrel's, the JSON reader's — into problem+json with the
/// right status and a message that says what is wrong. Anything else is a 500 without internals.</summary>
public sealed class ProblemExceptionHandler(IProblemDetailsService problems, ILogger<ProblemExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        var (status, detail) = exception switch
        {
            ApiProblemException p => (p.Status, p.Message),
            CatalogRequestException c => (c.Error switch
            {
                CatalogError.NotFound => StatusCodes.Status404NotFound,
                CatalogError.Conflict => StatusCodes.Status409Conflict,
                CatalogError.ImageUnsupported => StatusCodes.Status415UnsupportedMediaType,
                CatalogError.ImageTooLarge => StatusCodes.Status413PayloadTooLarge,
                CatalogError.Unavailable => StatusCodes.Status503ServiceUnavailable,
                CatalogError.BadRequest => StatusCodes.Status400BadRequest,
                _ => StatusCodes.Status422UnprocessableEntity,
            }, c.Message),
            BadHttpRequestException b => (b.StatusCode, b.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? "The request body is larger than the limit." : b.Message),
            JsonException j => (StatusCodes.Status400BadRequest, "Malformed JSON: " + j.Message),
            InvalidDataException d when d.Message.Contains("length limit", StringComparison.OrdinalIgnoreCase) =>
                (StatusCodes.Status413PayloadTooLarge, "The request body is larger than the limit: " + d.Message),
            InvalidDataException d => (StatusCodes.Status400BadRequest, d.Message), // malformed multipart
            OperationCanceledException when context.RequestAborted.IsCancellationRequested => (499, "The client closed the request."),
            _ => (StatusCodes.Status500InternalServerError, "An unexpected error occurred."),
        };
        if (status >= 500) logger.LogError(exception, "Unhandled error on {Method} {Path}", context.Request.Method, context.Request.Path);
        context.Response.StatusCode = status;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            Exception = exception,
            ProblemDetails = new ProblemDetails { Status = status, Title = Title(status), Detail = detail },
        });
    }

    static string Title(int status) => status switch
    {
        400 => "Bad request",
        404 => "Not found",
        409 => "Conflict",
        413 => "Content too large",
        415 => "Unsupported media type",
        422 => "Unprocessable content",
        _ => "Error",
    };
}
