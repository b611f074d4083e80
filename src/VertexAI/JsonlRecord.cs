using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Catalogs.VertexAI;

/// <summary>
/// One line of Vertex AI Vector Search's batch input (JSON Lines under <c>contentsDeltaUri</c>):
/// <c>{"id", "embedding", "restricts": [{"namespace", "allow", "deny"}], "numeric_restricts": [{"namespace",
/// "value_int" | "value_float" | "value_double"}], "crowding_tag", "sparse_embedding": {"values", "dimensions"}}</c>.
/// Removals are plain id lines under
/// <c>delete/</c>.
/// </summary>
public static class JsonlRecord
{
    public static string Format(IndexDatapoint p)
    {
        var o = new JsonObject
        {
            ["id"] = p.DatapointId,
            ["embedding"] = new JsonArray((p.FeatureVector ?? []).Select(x => (JsonNode)JsonValue.Create(x)).ToArray()),
        };
        if (p.Restricts is { Count: > 0 } restricts)
            o["restricts"] = new JsonArray(restricts.Select(r =>
            {
                var ro = new JsonObject { ["namespace"] = r.Namespace };
                if (r.AllowList is { Count: > 0 } allow) ro["allow"] = new JsonArray(allow.Select(a =>
                    (JsonNode)JsonValue.Create(a)).ToArray());
                if (r.DenyList is { Count: > 0 } deny) ro["deny"] = new JsonArray(deny.Select(d =>
                    (JsonNode)JsonValue.Create(d)).ToArray());
                return (JsonNode)ro;
            }).ToArray());
        if (p.NumericRestricts is { Count: > 0 } numeric)
            o["numeric_restricts"] = new JsonArray(numeric.Select(n =>
            {
                var no = new JsonObject { ["namespace"] = n.Namespace };
                if (n.ValueInt is long i) no["value_int"] = i;
                else if (n.ValueFloat is float f) no["value_float"] = f;
                else if (n.ValueDouble is double d) no["value_double"] = d;
                return (JsonNode)no;
            }).ToArray());
        if (p.CrowdingTag?.CrowdingAttribute is { } crowd) o["crowding_tag"] = crowd;
        if (p.SparseEmbedding is { } sparse)
            o["sparse_embedding"] = new JsonObject
            {
                ["values"] = new JsonArray(sparse.Values.Select(v => (JsonNode)JsonValue.Create(v)).ToArray()),
                ["dimensions"] = new JsonArray(sparse.Dimensions.Select(d => (JsonNode)JsonValue.Create(d)).ToArray()),
            };
        return o.ToJsonString();
    }

    public static IndexDatapoint Parse(string line)
    {
        using var doc = JsonDocument.Parse(line);
        var root = doc.RootElement;
        var id = root.GetProperty("id").GetString() ?? throw new FormatException("id is null.");
        var embedding = root.GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        var restricts = root.TryGetProperty("restricts", out var r)
            ? r.EnumerateArray().Select(x => new Restriction(x.GetProperty("namespace").GetString()!, Strings(x,
                "allow"), Strings(x, "deny"))).ToArray()
            : null;
        var numeric = root.TryGetProperty("numeric_restricts", out var n)
            ? n.EnumerateArray().Select(x => new NumericRestriction(x.GetProperty("namespace").GetString()!,
                x.TryGetProperty("value_int", out var vi) ? vi.GetInt64() : null,
                x.TryGetProperty("value_float", out var vf) ? vf.GetSingle() : null,
                x.TryGetProperty("value_double", out var vd) ? vd.GetDouble() : null)).ToArray()
            : null;
        var crowd = root.TryGetProperty("crowding_tag", out var c) ? new CrowdingTag(c.GetString()) : null;
        var sparse = root.TryGetProperty("sparse_embedding", out var s)
            ? new SparseEmbedding(s.GetProperty("values").EnumerateArray().Select(v => v.GetSingle()).ToArray(),
                s.GetProperty("dimensions").EnumerateArray().Select(d => d.GetInt64()).ToArray())
            : null;
        return new IndexDatapoint(id, embedding, restricts, numeric, crowd, sparse);
    }

    static string[]? Strings(JsonElement e, string name) =>
        e.TryGetProperty(name, out var a) ? a.EnumerateArray().Select(x => x.GetString()!).ToArray() : null;

    /// <summary>Many records as one JSONL document (UTF-8, one record per line).</summary>
    public static byte[] Document(IEnumerable<IndexDatapoint> datapoints)
    {
        var text = new StringBuilder();
        foreach (var p in datapoints) text.Append(Format(p)).Append('\n');
        return Encoding.UTF8.GetBytes(text.ToString());
    }
}
