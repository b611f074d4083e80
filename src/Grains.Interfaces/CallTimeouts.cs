namespace Catalogs.Grains;

/// <summary>Grain calls that may legitimately take long (loading or dropping shards, encoding a batch of images,
/// exporting to Cloud Storage) wait this long; every other call fails fast, so that a call to a silo that has just
/// died comes back as "unavailable, retry" in seconds instead of hanging.</summary>
public static class CallTimeouts
{
    public const string Long = "00:10:00";

    /// <summary>Writes that encode images first: a batch of them takes seconds. Writes of vectors alone go
    /// through <see cref="ICatalogGrain.Upsert"/> and fail fast.</summary>
    public const string Encoding = "00:01:00";
}
