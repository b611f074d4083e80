using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Catalogs.Grains;

namespace Catalogs.ApiHost.Infrastructure;

/// <summary>Reads JSON bodies, JSON form fields and multipart image uploads strictly: unknown members are refused,
/// numbers must be JSON numbers, and every malformed body is a 400 that says where it is wrong.</summary>
public static partial class RequestReader
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        NumberHandling = JsonNumberHandling.Strict,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        MaxDepth = 32,
    };

    [GeneratedRegex("The JSON property '(?<name>.*?)' could not be mapped")]
    private static partial Regex UnmappedMember();

    /// <summary>Reads a JSON form field; malformed JSON is a 400 that says where.</summary>
    public static T ParseJson<T>(string json, string what) where T : class
    {
        try
        {
            return JsonSerializer.Deserialize<T>(json, Json)
                ?? throw CatalogRequestException.Malformed($"{what} is null.");
        }
        catch (JsonException ex)
        {
            throw Problem(ex, what);
        }
    }

    public static async Task<T> ReadJsonAsync<T>(HttpRequest request, string what) where T : class
    {
        try
        {
            return await JsonSerializer.DeserializeAsync<T>(request.Body, Json, request.HttpContext.RequestAborted)
                ?? throw CatalogRequestException.Malformed($"{what} is null.");
        }
        catch (JsonException ex)
        {
            throw Problem(ex, what);
        }
    }

    static CatalogRequestException Problem(JsonException ex, string what)
    {
        if (ex is SpecValueException)
        {
            var member = ex.Path is { Length: > 2 } at && at.StartsWith("$.",
                StringComparison.Ordinal) ? at[2..] + " " : "";
            return CatalogRequestException.Malformed($"{what} is not valid: {member}{ex.Message}.");
        }
        if (UnmappedMember().Match(ex.Message) is { Success: true } unmapped)
        {
            var at = ex.Path is null or "$" ? "" : $" (in {ex.Path})";
            return CatalogRequestException.Malformed(
                $"{what} has an unknown member '{unmapped.Groups["name"].Value}'{at}: " +
                "see the API reference for its members.");
        }
        if (ex.Path is { } path && ex.Message.StartsWith("The JSON value could not be converted",
            StringComparison.Ordinal))
            return CatalogRequestException.Malformed($"{what} is not valid: the value at {path} has the wrong type " +
                "(numbers must be JSON numbers, strings JSON strings, lists JSON arrays).");
        return CatalogRequestException.Malformed($"{what} is not valid JSON: {ex.Message}");
    }

    /// <summary>Reads a multipart body with an <c>image</c> file part and an optional JSON field named
    /// <paramref name="jsonField"/>. A body that does not follow its own boundary is a 400.</summary>
    public static async Task<(byte[] Image, T? Json)> ReadImageFormAsync<T>(HttpRequest request, string jsonField,
        CancellationToken ct) where T : class
    {
        IFormCollection form;
        try
        {
            form = await request.ReadFormAsync(ct);
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or FormatException
            or InvalidOperationException
                                   && ex is not BadHttpRequestException
                                       && !request.HttpContext.RequestAborted.IsCancellationRequested)
        {
            if (ex is InvalidDataException && ex.Message.Contains("length limit", StringComparison.OrdinalIgnoreCase))
                throw CatalogRequestException.TooLarge(
                    "The request body is larger than the limit: " + ex.Message);
            throw CatalogRequestException.Malformed($"The multipart/form-data body is malformed: {ex.Message}");
        }
        var file = form.Files["image"]
            ?? throw CatalogRequestException.Malformed("The multipart body needs an 'image' file part.");
        var json = form.TryGetValue(jsonField, out var field) ? ParseJson<T>(field.ToString(),
            $"The '{jsonField}' field") : null;
        using var buffer = new MemoryStream((int)Math.Min(file.Length, int.MaxValue));
        await file.CopyToAsync(buffer, ct);
        return (buffer.ToArray(), json);
    }
}
