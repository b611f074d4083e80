using System.Text;
using System.Text.Json;
using Catalogs.Grains;

namespace Catalogs.Shards;

/// <summary>A product's text, as the lexical index and sparse embeddings read it: the string values of its
/// attributes <c>title</c>, <c>name</c> and <c>description</c>, in that order.</summary>
public static class ProductText
{
    public static readonly string[] Fields = ["title", "name", "description"];

    /// <summary>The sparse embedding of a product's text (Vertex AI's hybrid search), or null without text.</summary>
    public static Text.SparseEmbedding? SparseEmbedding(Datapoint product) => Of(product) is { } text
        ? Text.SparseEmbedding.OfDocument(Text.TextAnalyzer.Terms(text)) : null;

    public static string? Of(Datapoint product)
    {
        if (product.AttributesJson is not { } json) return null;
        try
        {
            using var document = JsonDocument.Parse(json);
            if (document.RootElement.ValueKind != JsonValueKind.Object) return null;
            var text = new StringBuilder();
            foreach (var field in Fields)
                if (document.RootElement.TryGetProperty(field, out var value)
                    && value.ValueKind == JsonValueKind.String)
                    text.Append(value.GetString()).Append('\n');
            return text.Length == 0 ? null : text.ToString();
        }
        catch (JsonException)
        {
            return null; // stored verbatim as sent; the API host checked it is JSON
        }
    }
}
