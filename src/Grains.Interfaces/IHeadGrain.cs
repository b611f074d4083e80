namespace Catalogs.Grains;

/// <summary>A tuned encoder head, keyed by the SHA-256 of its bytes (content-addressed, so immutable): written once
/// by the training that fitted it, read by every silo's encoders.</summary>
[Alias("Catalogs.IHeadGrain")]
public interface IHeadGrain : IGrainWithStringKey
{
    /// <summary>The head's bytes (<c>LinearHead</c> format), or null when no head has this hash.</summary>
    [Alias("Get")] Task<byte[]?> Get(CancellationToken cancellationToken = default);
    /// <summary>Stores the head; its bytes must hash to the grain's key.</summary>
    [Alias("Put")] Task Put(byte[] bytes, CancellationToken cancellationToken = default);
}
