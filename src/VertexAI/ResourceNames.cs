using System.Text.RegularExpressions;

namespace Catalogs.VertexAI;

/// <summary>Vertex AI resource names, checked before any request is made.</summary>
public static partial class ResourceNames
{
    const string LocationPattern =
        @"^projects/(?<project>[a-z0-9][a-z0-9\-]{4,61}[a-z0-9]|\d+)/locations/(?<location>[a-z]+-[a-z]+\d+)";

    [GeneratedRegex(LocationPattern + @"/(?<kind>indexes|indexEndpoints)/(?<id>[A-Za-z0-9\-_]+)$")]
    private static partial Regex ResourcePattern();

    [GeneratedRegex(LocationPattern + "$")]
    private static partial Regex ParentPattern();

    /// <summary>Parses <c>projects/{project}/locations/{location}/{indexes|indexEndpoints}/{id}</c>.</summary>
    public static bool TryParse(string? name, string kind, out string project, out string location)
    {
        project = location = "";
        if (name is null) return false;
        var match = ResourcePattern().Match(name);
        if (!match.Success || match.Groups["kind"].Value != kind) return false;
        project = match.Groups["project"].Value;
        location = match.Groups["location"].Value;
        return true;
    }

    public static bool IsIndex(string? name) => TryParse(name, "indexes", out _, out _);

    public static bool IsIndexEndpoint(string? name) => TryParse(name, "indexEndpoints", out _, out _);

    public static bool IsParent(string? name) => name is not null && ParentPattern().IsMatch(name);

    /// <summary>The location of a parent or resource name (it picks the regional API host).</summary>
    public static string Location(string name) => name.Split('/') is [_, _, _, var location, ..] ? location
        : throw new ArgumentException($"'{name}' is not a Vertex AI resource name.", nameof(name));

    public static bool IsGcsUri(string? uri) => uri is not null && uri.StartsWith("gs://", StringComparison.Ordinal)
        && uri.Length > 5 && uri[5] != '/';

    /// <summary>Splits <c>gs://bucket/prefix</c>.</summary>
    public static (string Bucket, string Prefix) SplitGcsUri(string uri)
    {
        if (!IsGcsUri(uri)) throw new ArgumentException($"'{uri}' is not a gs:// URI.", nameof(uri));
        var rest = uri[5..];
        int slash = rest.IndexOf('/');
        return slash < 0 ? (rest, "") : (rest[..slash], rest[(slash + 1)..]);
    }
}
