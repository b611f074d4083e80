namespace Catalogs.ApiHost.Infrastructure;

/// <summary>A request the API refuses before it reaches a grain; rendered as problem+json by <see cref="ProblemExceptionHandler"/>.</summary>
public sealed class ApiProblemException(int status, string detail) : Exception(detail)
{
    public int Status { get; } = status;

    public static ApiProblemException BadRequest(string detail) => new(StatusCodes.Status400BadRequest, detail);
    public static ApiProblemException NotFound(string detail) => new(StatusCodes.Status404NotFound, detail);
    public static ApiProblemException Unprocessable(string detail) => new(StatusCodes.Status422UnprocessableEntity, detail);
    public static ApiProblemException UnsupportedMediaType(string detail) => new(StatusCodes.Status415UnsupportedMediaType, detail);
}
