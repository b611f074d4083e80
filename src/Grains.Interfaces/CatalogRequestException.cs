namespace Catalogs.Grains;

/// <summary>A request a grain refuses; carries what the API returns as problem+json.</summary>
[GenerateSerializer, Alias("Catalogs.CatalogRequestException")]
public sealed class CatalogRequestException : Exception
{
    [Id(0)] public CatalogError Error { get; }

    public CatalogRequestException(CatalogError error, string message) : base(message) => Error = error;
}
