namespace Catalogs.Grains;

/// <summary>Why a request is refused, in the catalog's terms; the API host alone turns these into status
/// codes.</summary>
public enum CatalogError
{
    /// <summary>The request cannot be read as one: bad syntax or shape, a missing or unknown member, a value
    /// outside its type's range or a configured limit.</summary>
    Malformed,

    /// <summary>The request reads well but breaks a rule of the catalog: a vector of other dimensions, a
    /// setting out of its range, an image that does not decode.</summary>
    Invalid,

    /// <summary>The catalog, product or image named does not exist.</summary>
    NotFound,

    /// <summary>The request contradicts the catalog's current state (a change that needs an empty catalog).</summary>
    Conflict,

    /// <summary>The body or image is of a type the catalog does not take.</summary>
    UnsupportedMedia,

    /// <summary>The body or image exceeds a size limit.</summary>
    TooLarge,

    /// <summary>The request would take the tenant past one of its quotas (catalogs, products).</summary>
    QuotaExceeded,

    /// <summary>Something the request depends on (storage, Matching Engine) cannot be reached now; retry
    /// later.</summary>
    Unavailable,
}
