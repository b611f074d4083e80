using System.Text;
using System.Text.RegularExpressions;
using Catalogs.Grains;
using Catalogs.Shards;
using Microsoft.Extensions.Options;

namespace Catalogs.ApiHost.Infrastructure;

/// <summary>Checks of names, ids, datapoints and queries against <see cref="RequestLimits"/>, each refusing the
/// request as malformed with a message that says what is wrong and, for a limit, which setting bounds it.</summary>
public sealed partial class RequestValidator(IOptions<RequestLimits> options)
{
    public const int MaxNeighbors = 1000;

    /// <summary>The id rules, as the OpenAPI document states them (with the default length limit).</summary>
    public const string ProductIdRules = "Product ids are opaque: 1–256 UTF-8 bytes (Api:Limits:MaxIdBytes) of " +
        "printable characters, not only whitespace, without '/', '\\', '%', '?' or '#', and neither '.' nor '..': " +
        "no URL normalisation or percent-decoding can change them, and a product URL never resolves to another route.";

    RequestLimits Limits => options.Value;

    [GeneratedRegex("^[a-z0-9-]{1,63}$")]
    private static partial Regex CatalogName();

    public static void CatalogNameIsValid(string catalog)
    {
        if (!CatalogName().IsMatch(catalog))
            throw CatalogRequestException.Malformed(
                $"Catalog name '{Shorten(catalog)}' is invalid: use 1–63 lowercase letters, digits and '-'.");
    }

    /// <summary>Refuses ids that a URL cannot carry unchanged: dot segments, separators, percent signs, whitespace
    /// alone, control characters, unpaired surrogates and the replacement character (left by invalid UTF-8).</summary>
    public void ProductIdIsValid(string? id, string where = "")
    {
        if (string.IsNullOrEmpty(id)) throw CatalogRequestException.Malformed($"{where}A product id is required.");
        string Refuse(string why) => $"{where}Product id '{Shorten(id)}' is invalid: {why}. {ProductIdRules}";
        if (Encoding.UTF8.GetByteCount(id) > Limits.MaxIdBytes)
            throw CatalogRequestException.Malformed(
                Refuse($"it is longer than {Limits.MaxIdBytes} bytes (Api:Limits:MaxIdBytes)"));
        if (id is "." or "..") throw CatalogRequestException.Malformed(Refuse("'.' and '..' are path segments"));
        if (string.IsNullOrWhiteSpace(id)) throw CatalogRequestException.Malformed(Refuse("it is only whitespace"));
        for (int i = 0; i < id.Length; i++)
        {
            char c = id[i];
            if (c is '/' or '\\' or '%' or '?' or '#')
                throw CatalogRequestException.Malformed(Refuse($"it contains '{c}'"));
            if (char.IsHighSurrogate(c) && i + 1 < id.Length && char.IsLowSurrogate(id[i + 1])) { i++; continue; }
            if (char.IsControl(c) || c == '\uFFFD' || char.IsSurrogate(c))
                throw CatalogRequestException.Malformed(Refuse("it contains a control character or invalid UTF-8"));
        }
    }

    /// <summary>Finite components within ±<see cref="RequestLimits.MaxVectorComponent"/>: beyond that, distances
    /// overflow (the norm of 3.4e38 values is infinite) and every product ends up equally far.</summary>
    public void VectorIsValid(float[] vector, string what)
    {
        if (vector.Length == 0) throw CatalogRequestException.Malformed($"{what} is empty.");
        double max = Limits.MaxVectorComponent;
        for (int i = 0; i < vector.Length; i++)
        {
            if (!float.IsFinite(vector[i]))
                throw CatalogRequestException.Malformed($"{what}[{i}] is not a finite number.");
            if (Math.Abs(vector[i]) > max)
                throw CatalogRequestException.Malformed($"{what}[{i}] is {vector[i]:G9}: components must lie within " +
                    $"±{max:G} (Api:Limits:MaxVectorComponent).");
        }
    }

    /// <summary>A datapoint of the request made whole: the names Vertex uses merged, every field but the id checked
    /// (callers check the id first, before reading a body or fetching an image). Without a vector (null) its vector
    /// is left empty, for the catalog to compute from an image.</summary>
    public Datapoint ToDatapoint(string id, DatapointDto dto, float[]? vector, string where = "")
    {
        if (vector is not null) VectorIsValid(vector, where + "featureVector");
        var restricts = Restricts(dto.Restricts, where, Limits.MaxRestrictsPerDatapoint, "MaxRestrictsPerDatapoint");
        var numericDtos = OneOf(dto.NumericRestricts, dto.NumericRestrictsJsonl, where + "numericRestricts",
            "numeric_restricts");
        if (numericDtos?.Length > Limits.MaxRestrictsPerDatapoint)
            throw TooMany($"{where}numericRestricts", numericDtos.Length, Limits.MaxRestrictsPerDatapoint,
                "MaxRestrictsPerDatapoint");
        var numeric = (numericDtos ?? [])
            .Select((n, i) => NumericValue(n, $"{where}numericRestricts[{i}]", query: false)).ToArray();
        var crowding = OneOf(dto.CrowdingTag?.CrowdingAttribute, dto.CrowdingTagJsonl, where + "crowdingTag",
            "crowding_tag");
        if (crowding is { Length: > 0 })
            BytesWithin(crowding, Limits.MaxCrowdingTagBytes, $"{where}crowdingTag.crowdingAttribute",
                "MaxCrowdingTagBytes");
        var metadata = OneOf(dto.EmbeddingMetadata, dto.EmbeddingMetadataJsonl, where + "embeddingMetadata",
            "embedding_metadata");
        var attributes = OneOf(dto.Attributes, metadata, where + "attributes", "embeddingMetadata")?.ToJsonString();
        if (attributes is not null)
            BytesWithin(attributes, Limits.MaxAttributesBytes, $"{where}attributes", "MaxAttributesBytes");
        return new Datapoint(id, vector ?? [], restricts, numeric, crowding is { Length: > 0 } ? crowding : null,
            attributes,
            DateTimeOffset.UtcNow);
    }

    /// <summary>The datapoint's id under either of its names (ours and the IndexDatapoint's).</summary>
    public static string? IdOf(DatapointDto dto, string where = "") =>
        OneOf(dto.Id, dto.DatapointId, where + "id", "datapointId");

    /// <summary>The vector under either of its names (ours and the JSONL's); sparse embeddings are not
    /// served.</summary>
    public static float[]? VectorOf(DatapointDto dto, string where = "")
    {
        if (dto.SparseEmbedding is not null || dto.SparseEmbeddingJsonl is not null)
            throw CatalogRequestException.Malformed($"{where}sparseEmbedding is not supported: send a dense " +
                $"featureVector.");
        return OneOf(dto.FeatureVector, dto.Embedding, where + "featureVector", "embedding");
    }

    /// <summary>A query's restricts, bounded together with its numeric restricts.</summary>
    public Restrict[] QueryRestricts(RestrictDto[]? restricts, NumericRestrictDto[]? numeric)
    {
        int count = (restricts?.Length ?? 0) + (numeric?.Length ?? 0);
        if (count > Limits.MaxRestrictsPerQuery)
            throw TooMany("restricts and numericRestricts", count, Limits.MaxRestrictsPerQuery, "MaxRestrictsPerQuery");
        return Restricts(restricts, "", Limits.MaxRestrictsPerQuery, "MaxRestrictsPerQuery");
    }

    Restrict[] Restricts(RestrictDto[]? restricts, string where, int max, string setting)
    {
        if (restricts?.Length > max) throw TooMany($"{where}restricts", restricts.Length, max, setting);
        return (restricts ?? []).Select((r, i) =>
        {
            var at = $"{where}restricts[{i}]";
            NamespaceIsValid(r.Namespace, at);
            var allow = OneOf(r.AllowList, r.Allow, at + ".allowList", "allow") ?? [];
            var deny = OneOf(r.DenyList, r.Deny, at + ".denyList", "deny") ?? [];
            if (allow.Length + deny.Length > Limits.MaxTokensPerRestrict)
                throw TooMany($"{at} tokens", allow.Length + deny.Length, Limits.MaxTokensPerRestrict,
                    "MaxTokensPerRestrict");
            var tokens = allow.Select((t, k) => (t, $"allowList[{k}]")).Concat(deny.Select((t, k) => (t,
                $"denyList[{k}]")));
            foreach (var (token, name) in tokens)
            {
                if (string.IsNullOrEmpty(token))
                    throw CatalogRequestException.Malformed($"{at}.{name} is an empty token.");
                BytesWithin(token, Limits.MaxTokenBytes, $"{at}.{name}", "MaxTokenBytes");
            }
            return new Restrict(r.Namespace!, allow, deny);
        }).ToArray();
    }

    void NamespaceIsValid(string? name, string at)
    {
        if (string.IsNullOrEmpty(name)) throw CatalogRequestException.Malformed($"{at}.namespace is required.");
        BytesWithin(name, Limits.MaxNamespaceBytes, at + ".namespace", "MaxNamespaceBytes");
    }

    public NumericRestrict NumericValue(NumericRestrictDto n, string at, bool query)
    {
        NamespaceIsValid(n.Namespace, at);
        long? valueInt = OneOf(n.ValueInt, n.ValueIntJsonl, at + ".valueInt", "value_int");
        float? valueFloat = OneOf(n.ValueFloat, n.ValueFloatJsonl, at + ".valueFloat", "value_float");
        double? valueDouble = OneOf(n.ValueDouble, n.ValueDoubleJsonl, at + ".valueDouble", "value_double");
        int set = (valueInt is null ? 0 : 1) + (valueFloat is null ? 0 : 1) + (valueDouble is null ? 0 : 1);
        if (set != 1)
            throw CatalogRequestException.Malformed($"{at} must set exactly one of valueInt, valueFloat, valueDouble.");
        if (valueFloat is { } f && !float.IsFinite(f) || valueDouble is { } d && !double.IsFinite(d))
            throw CatalogRequestException.Malformed($"{at} value is not a finite number.");
        NumericOperator? op = null;
        if (query)
        {
            if (n.Op is null)
                throw CatalogRequestException.Malformed($"{at}.op is required: one of {NumericOperators.Accepted}.");
            op = NumericOperators.Parse(n.Op) ?? throw CatalogRequestException.Malformed(
                $"{at}.op '{Shorten(n.Op)}' is not one of {NumericOperators.Accepted}.");
        }
        else if (n.Op is not null)
            throw CatalogRequestException.Malformed($"{at}.op belongs in queries, not in datapoints.");
        return new NumericRestrict(n.Namespace!, valueInt, valueFloat, valueDouble, op);
    }

    /// <summary>One value that may come under two names; both set is ambiguous.</summary>
    static T? OneOf<T>(T? ours, T? theirs, string name, string alias) where T : class =>
        ours is not null && theirs is not null ? throw BothSet(name, alias) : ours ?? theirs;

    static T? OneOf<T>(T? ours, T? theirs, string name, string alias) where T : struct =>
        ours is not null && theirs is not null ? throw BothSet(name, alias) : ours ?? theirs;

    static CatalogRequestException BothSet(string name, string alias) =>
        CatalogRequestException.Malformed($"Set {name} or {alias}, not both: they name the same field.");

    static void BytesWithin(string value, int max, string what, string setting)
    {
        int bytes = Encoding.UTF8.GetByteCount(value);
        if (bytes > max)
            throw CatalogRequestException.Malformed($"{what} is {bytes:N0} bytes; the limit is {max:N0} " +
                $"(Api:Limits:{setting}).");
    }

    static CatalogRequestException TooMany(string what, int count, int max, string setting) =>
        CatalogRequestException.Malformed($"{what}: {count:N0} given; the limit is {max:N0} (Api:Limits:{setting}).");

    public static int NeighborCount(int? k)
    {
        var value = k ?? 10;
        if (value is < 1 or > MaxNeighbors)
            throw CatalogRequestException.Malformed($"neighborCount must be between 1 and {MaxNeighbors}; got " +
                $"{value}.");
        return value;
    }

    /// <summary>The HNSW candidate list size for one query: at least k, at most 10000.</summary>
    public static int? Ef(int? ef, int k)
    {
        if (ef is null) return null;
        if (ef < k || ef > 10_000)
            throw CatalogRequestException.Malformed($"ef must be between neighborCount ({k}) and 10000; got {ef}.");
        return ef;
    }

    /// <summary>Matching Engine's candidate count (<c>approximateNeighborCount</c>): at least neighborCount.</summary>
    public static int? ApproximateNeighborCount(int? n, int k)
    {
        if (n is null) return null;
        if (n < k || n > 10_000)
            throw CatalogRequestException.Malformed(
                $"approximateNeighborCount must be between neighborCount ({k}) and 10000; got {n}.");
        return n;
    }

    /// <summary>Matching Engine's share of leaves searched (<c>fractionLeafNodesToSearchOverride</c>): in (0,
    /// 1].</summary>
    public static double? LeafFraction(double? f)
    {
        if (f is null) return null;
        if (!(f > 0 && f <= 1))
            throw CatalogRequestException.Malformed($"fractionLeafNodesToSearchOverride must be in (0, 1]; got {f}.");
        return f;
    }

    public static int? CrowdingLimit(int? n)
    {
        if (n is < 1) throw CatalogRequestException.Malformed("perCrowdingAttributeNeighborCount must be at least 1.");
        return n;
    }

    public static string Shorten(string s) => s.Length <= 80 ? s : s[..80] + "…";
}
