namespace Catalogs.Grains;

public enum CatalogError
{
    Invalid,            // 400/422: the request is malformed or violates a rule
    NotFound,           // 404
    Conflict,           // 409: the request conflicts with the catalog's state
    ImageUnsupported,   // 415
    ImageTooLarge,      // 413
    Unavailable,        // 503: a service the request depends on (Matching Engine) cannot be reached
    BadRequest,         // 400: an invalid Matching Engine binding or export request, as Vertex AI answers them
}
