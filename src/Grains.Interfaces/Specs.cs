using System.Text.Json;
using System.Text.Json.Serialization;

namespace Catalogs.Grains;

/// <summary>How a catalog measures similarity; every distance is "lower is closer".</summary>
[JsonConverter(typeof(SpecEnumConverter<SimilarityMetric>))]
public enum SimilarityMetric { Cosine, Dot, SquaredL2, L1 }

/// <summary>The shards' index: approximate (HNSW) or brute force.</summary>
[JsonConverter(typeof(SpecEnumConverter<IndexKind>))]
public enum IndexKind { Hnsw, Exact }

/// <summary>What the HNSW walk reads: float32 vectors, or int8 codes re-ranked with float32.</summary>
[JsonConverter(typeof(SpecEnumConverter<IndexQuantization>))]
public enum IndexQuantization { None, Int8 }

/// <summary>Where an int8 index keeps the float32 vectors it re-ranks with (and hands back): on the heap, or in
/// memory-mapped files that the page cache holds as memory allows.</summary>
[JsonConverter(typeof(SpecEnumConverter<RerankStorage>))]
public enum RerankStorage { Memory, Mapped }

/// <summary>Where a search goes: the local shards, Matching Engine, or both merged.</summary>
[JsonConverter(typeof(SpecEnumConverter<QueryRouting>))]
public enum QueryRouting { Local, MatchingEngine, Hybrid }

/// <summary>Which copy of a shard may answer: any (the primary or a read replica, which may lag by its polling
/// interval), or only the primary, which has applied every acknowledged write.</summary>
[JsonConverter(typeof(SpecEnumConverter<ReadConsistency>))]
public enum ReadConsistency { Eventual, Strong }

/// <summary>How an image is fitted to the encoder's input.</summary>
[JsonConverter(typeof(SpecEnumConverter<EncoderResize>))]
public enum EncoderResize { ShorterSideCenterCrop, Stretch }

[JsonConverter(typeof(SpecEnumConverter<EncoderChannelOrder>))]
public enum EncoderChannelOrder { Rgb, Bgr }

/// <summary>What becomes of a spatial feature map: averaged over its positions, or taken as it is.</summary>
[JsonConverter(typeof(SpecEnumConverter<EncoderPooling>))]
public enum EncoderPooling { GlobalAverage, None }

/// <summary>
/// The settings' enums in JSON: their member names in camelCase (<c>squaredL2</c>, <c>matchingEngine</c>), the strings
/// the API and stored configurations have always used. Reading ignores case; numbers and unknown names are refused
/// with the accepted values.
/// </summary>
public sealed class SpecEnumConverter<T> : JsonConverter<T> where T : struct, Enum
{
    static readonly (string Name, T Value)[] Names = Enum.GetValues<T>().Select(v => (Name(v), v)).ToArray();

    /// <summary>The accepted names, for messages.</summary>
    public static string Accepted => string.Join(", ", Names.Select(n => n.Name));

    public static string Name(T value) => JsonNamingPolicy.CamelCase.ConvertName(value.ToString());

    public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String)
            throw new SpecValueException($"must be one of {Accepted} (a string)");
        var text = reader.GetString()!;
        foreach (var (name, value) in Names)
            if (string.Equals(name, text, StringComparison.OrdinalIgnoreCase)) return value;
        throw new SpecValueException($"'{(text.Length > 40 ? text[..40] + "…" : text)}' is not one of {Accepted}");
    }

    public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options) =>
        writer.WriteStringValue(Name(value));
}

/// <summary>A settings value that is not one of its enum's names; the message says which are.</summary>
public sealed class SpecValueException(string message) : JsonException(message);
