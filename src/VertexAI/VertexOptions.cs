using System.ComponentModel.DataAnnotations;

namespace Catalogs.VertexAI;

/// <summary>Where the Google APIs are and how to authenticate (section <c>Vertex</c>), validated at start-up.
/// Base URLs default to Google's; tests and local development point them at the emulator.</summary>
public sealed class VertexOptions
{
    public const string Section = "Vertex";

    /// <summary>Vertex AI API root (default <c>https://{location}-aiplatform.googleapis.com/</c>).</summary>
    public Uri? ApiBase { get; set; }

    /// <summary>Replaces <c>https://{publicEndpointDomainName}/</c> for findNeighbors and
    /// readIndexDatapoints.</summary>
    public Uri? PublicEndpointBase { get; set; }

    /// <summary>Cloud Storage JSON API root (default <c>https://storage.googleapis.com/</c>).</summary>
    public Uri? StorageBase { get; set; }

    /// <summary>A service-account key file; null: Application Default Credentials.</summary>
    public string? CredentialsFile { get; set; }

    /// <summary>Replaces the key's <c>token_uri</c> (e.g. the emulator's token endpoint).</summary>
    public Uri? TokenUri { get; set; }

    /// <summary>Send no credentials at all (the emulator in its open mode).</summary>
    public bool Anonymous { get; set; }

    /// <summary>How often a long-running operation is polled.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:10:00")]
    public TimeSpan OperationPollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Longest wait for one request (findNeighbors degrades to local results beyond it).</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    public Uri ApiBaseFor(string location) => ApiBase ?? new Uri($"https://{location}-aiplatform.googleapis.com/");

    public Uri StorageRoot => StorageBase ?? new Uri("https://storage.googleapis.com/");

    public Uri PublicEndpointFor(string domain) => PublicEndpointBase ?? new Uri($"https://{domain}/");
}
