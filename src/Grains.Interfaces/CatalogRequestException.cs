namespace Catalogs.Grains;

/// <summary>A refused request: what kind of refusal, and a message that says what is wrong. Grains, the shard
/// library and the API host all throw it; the API host renders it as problem+json.</summary>
[GenerateSerializer, Alias("Catalogs.CatalogRequestException")]
public sealed class CatalogRequestException : Exception
{
    [Id(0)] public CatalogError Error { get; }

    public CatalogRequestException(CatalogError error, string message) : base(message) => Error = error;

    public static CatalogRequestException Malformed(string message) => new(CatalogError.Malformed, message);
    public static CatalogRequestException Invalid(string message) => new(CatalogError.Invalid, message);
    public static CatalogRequestException NotFound(string message) => new(CatalogError.NotFound, message);
    public static CatalogRequestException Conflict(string message) => new(CatalogError.Conflict, message);
    public static CatalogRequestException UnsupportedMedia(string message) => new(CatalogError.UnsupportedMedia,
        message);
    public static CatalogRequestException TooLarge(string message) => new(CatalogError.TooLarge, message);
    public static CatalogRequestException QuotaExceeded(string message) => new(CatalogError.QuotaExceeded, message);
    public static CatalogRequestException Unavailable(string message) => new(CatalogError.Unavailable, message);
}
