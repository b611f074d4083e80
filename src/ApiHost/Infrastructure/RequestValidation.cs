using System.Text.Json;
using System.Text.RegularExpressions;
using Catalogs.Grains;
using Catalogs.Grains.Shards;

namespace Catalogs.ApiHost.Infrastructure;

/// <summary>Checks of names, ids, datapoints and queries, each failing with a message that says what is wrong.</summary>
public static partial class RequestValidation
{
    public const int MaxNeighbors = 1000, MaxIdLength = 256, MaxTokens = 100;

    [GeneratedRegex("^[a-z0-9-]{1,63}$")]
    private static partial Regex CatalogName();

    public static void CatalogNameIsValid(string catalog)
    {
        if (!CatalogName().IsMatch(catalog))
            throw ApiProblemException.BadRequest($"Catalog name '{Shorten(catalog)}' is invalid: use 1–63 lowercase letters, digits and '-'.");
    }

    public static void ProductIdIsValid(string? id)
    {
        if (string.IsNullOrEmpty(id)) throw ApiProblemException.BadRequest("A product id is required.");
        if (id.Length > MaxIdLength) throw ApiProblemException.BadRequest($"Product id is longer than {MaxIdLength} characters.");
        if (id.Any(char.IsControl)) throw ApiProblemException.BadRequest("Product id contains control characters.");
    }

    public static void VectorIsValid(float[] vector, string what)
    {
        if (vector.Length == 0) throw ApiProblemException.BadRequest($"{what} is empty.");
        for (int i = 0; i < vector.Length; i++)
            if (!float.IsFinite(vector[i])) throw ApiProblemException.BadRequest($"{what}[{i}] is not a finite number.");
    }

    public static void DimensionsMatch(float[] vector, CatalogInfo catalog, string what)
    {
        if (vector.Length != catalog.Spec.Dimensions)
            throw ApiProblemException.BadRequest($"{what} has {vector.Length} dimensions; catalog '{catalog.Name}' has {catalog.Spec.Dimensions}.");
    }

    /// <summary>A datapoint of the request made whole: id checked, restricts and attributes validated.</summary>
    public static Datapoint ToDatapoint(string id, DatapointDto dto, float[] vector, string where = "")
    {
        ProductIdIsValid(id);
        VectorIsValid(vector, where + "featureVector");
        return new Datapoint(
            id,
            vector,
            Restricts(dto.Restricts, where),
            (dto.NumericRestricts ?? []).Select((n, i) => NumericValue(n, $"{where}numericRestricts[{i}]", query: false)).ToArray(),
            dto.CrowdingTag?.CrowdingAttribute is { Length: > 0 } crowd ? crowd : null,
            dto.Attributes?.ToJsonString(),
            DateTimeOffset.UtcNow);
    }

    public static Restrict[] Restricts(RestrictDto[]? restricts, string where = "") =>
        (restricts ?? []).Select((r, i) =>
        {
            var at = $"{where}restricts[{i}]";
            if (string.IsNullOrEmpty(r.Namespace)) throw ApiProblemException.BadRequest($"{at}.namespace is required.");
            var allow = r.AllowList ?? [];
            var deny = r.DenyList ?? [];
            if (allow.Length + deny.Length > MaxTokens) throw ApiProblemException.BadRequest($"{at} has more than {MaxTokens} tokens.");
            if (allow.Concat(deny).Any(string.IsNullOrEmpty)) throw ApiProblemException.BadRequest($"{at} has an empty token.");
            return new Restrict(r.Namespace, allow, deny);
        }).ToArray();

    public static NumericRestrict NumericValue(NumericRestrictDto n, string at, bool query)
    {
        if (string.IsNullOrEmpty(n.Namespace)) throw ApiProblemException.BadRequest($"{at}.namespace is required.");
        int set = (n.ValueInt is null ? 0 : 1) + (n.ValueFloat is null ? 0 : 1) + (n.ValueDouble is null ? 0 : 1);
        if (set != 1) throw ApiProblemException.BadRequest($"{at} must set exactly one of valueInt, valueFloat, valueDouble.");
        if (n.ValueFloat is { } f && !float.IsFinite(f) || n.ValueDouble is { } d && !double.IsFinite(d))
            throw ApiProblemException.BadRequest($"{at} value is not a finite number.");
        if (query)
        {
            if (n.Op is null) throw ApiProblemException.BadRequest($"{at}.op is required: one of {string.Join(", ", FilterMapping.Operators)}.");
            if (!FilterMapping.Operators.Contains(n.Op)) throw ApiProblemException.BadRequest($"{at}.op '{n.Op}' is not one of {string.Join(", ", FilterMapping.Operators)}.");
        }
        else if (n.Op is not null) throw ApiProblemException.BadRequest($"{at}.op belongs in queries, not in datapoints.");
        return new NumericRestrict(n.Namespace, n.ValueInt, n.ValueFloat, n.ValueDouble, n.Op);
    }

    public static int NeighborCount(int? k)
    {
        var value = k ?? 10;
        if (value is < 1 or > MaxNeighbors) throw ApiProblemException.BadRequest($"neighborCount must be between 1 and {MaxNeighbors}; got {value}.");
        return value;
    }

    /// <summary>The HNSW candidate list size for one query: at least k, at most 10000.</summary>
    public static int? Ef(int? ef, int k)
    {
        if (ef is null) return null;
        if (ef < k || ef > 10_000) throw ApiProblemException.BadRequest($"ef must be between neighborCount ({k}) and 10000; got {ef}.");
        return ef;
    }

    /// <summary>Matching Engine's candidate count (<c>approximateNeighborCount</c>): at least neighborCount.</summary>
    public static int? ApproximateNeighborCount(int? n, int k)
    {
        if (n is null) return null;
        if (n < k || n > 10_000) throw ApiProblemException.BadRequest($"approximateNeighborCount must be between neighborCount ({k}) and 10000; got {n}.");
        return n;
    }

    /// <summary>Matching Engine's share of leaves searched (<c>fractionLeafNodesToSearchOverride</c>): in (0, 1].</summary>
    public static double? LeafFraction(double? f)
    {
        if (f is null) return null;
        if (!(f > 0 && f <= 1)) throw ApiProblemException.BadRequest($"fractionLeafNodesToSearchOverride must be in (0, 1]; got {f}.");
        return f;
    }

    public static int? CrowdingLimit(int? n)
    {
        if (n is < 1) throw ApiProblemException.BadRequest("perCrowdingAttributeNeighborCount must be at least 1.");
        return n;
    }

    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>Reads a JSON body or form field; malformed JSON is a 400 that says where.</summary>
    public static T ParseJson<T>(string json, string what) where T : class
    {
        try
        {
            return JsonSerializer.Deserialize<T>(json, Json) ?? throw ApiProblemException.BadRequest($"{what} is null.");
        }
        catch (JsonException ex)
        {
            throw ApiProblemException.BadRequest($"{what} is not valid JSON: {ex.Message}");
        }
    }

    public static async Task<T> ReadJsonAsync<T>(HttpRequest request, string what) where T : class
    {
        try
        {
            return await JsonSerializer.DeserializeAsync<T>(request.Body, Json, request.HttpContext.RequestAborted)
                ?? throw ApiProblemException.BadRequest($"{what} is null.");
        }
        catch (JsonException ex)
        {
            throw ApiProblemException.BadRequest($"{what} is not valid JSON: {ex.Message}");
        }
    }

    /// <summary>Reads a multipart body with an <c>image</c> file part and an optional JSON field named <paramref name="jsonField"/>.</summary>
    public static async Task<(byte[] Image, T? Json)> ReadImageFormAsync<T>(HttpRequest request, string jsonField, CancellationToken ct) where T : class
    {
        var form = await request.ReadFormAsync(ct);
        var file = form.Files["image"] ?? throw ApiProblemException.BadRequest("The multipart body needs an 'image' file part.");
        var json = form.TryGetValue(jsonField, out var field) ? ParseJson<T>(field.ToString(), $"The '{jsonField}' field") : null;
        using var buffer = new MemoryStream((int)Math.Min(file.Length, int.MaxValue));
        await file.CopyToAsync(buffer, ct);
        return (buffer.ToArray(), json);
    }

    static string Shorten(string s) => s.Length <= 80 ? s : s[..80] + "…";
}
