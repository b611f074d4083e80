using System.Text.Json;
using Catalogs.VectorIndex;
using Catalogs.VertexAI;

namespace Catalogs.VertexEmulator;

/// <summary>A Matching Engine index held in memory: its resource, its datapoints, and an exact index over them
/// (search with the documented restrict, numeric and crowding semantics).</summary>
sealed class EmulatedIndex(IndexResource resource)
{
    public IndexResource Resource { get; set; } = resource;
    public Dictionary<string, IndexDatapoint> Datapoints { get; } = new(StringComparer.Ordinal);
    public ExactIndex Search { get; set; } = NewSearch(resource);

    public int Dimensions => Resource.Metadata.Config!.Dimensions;

    public static ExactIndex NewSearch(IndexResource resource) => new(resource.Metadata.Config!.Dimensions,
        Metric(resource.Metadata.Config!.DistanceMeasureType));

    public static DistanceMetric Metric(string type) => type switch
    {
        "DOT_PRODUCT_DISTANCE" => DistanceMetric.DotProduct,
        "COSINE_DISTANCE" => DistanceMetric.Cosine,
        "SQUARED_L2_DISTANCE" => DistanceMetric.SquaredL2,
        "L1_DISTANCE" => DistanceMetric.L1,
        _ => throw new EmulatorException(400, "INVALID_ARGUMENT", $"Unknown distanceMeasureType '{type}'."),
    };

    public void Upsert(IndexDatapoint point)
    {
        var vector = point.FeatureVector!;
        if (Resource.Metadata.Config!.FeatureNormType == "UNIT_L2_NORM")
        {
            vector = vector.ToArray();
            VectorMath.NormalizeInPlace(vector);
            point = point with { FeatureVector = vector };
        }
        Datapoints[point.DatapointId] = point;
        Search.Upsert(point.DatapointId, vector, Attributes(point));
    }

    public bool Remove(string id)
    {
        Search.Remove(id);
        return Datapoints.Remove(id);
    }

    public static PointAttributes Attributes(IndexDatapoint p) => new(
        (p.Restricts ?? []).Select(r => new TokenRestrict(r.Namespace, r.AllowList ?? [], r.DenyList ?? [])).ToArray(),
        (p.NumericRestricts ?? []).Select(n => new NumericValue(n.Namespace, n.ValueInt ?? n.ValueDouble ?? n.ValueFloat
            ?? 0)).ToArray(),
        p.CrowdingTag?.CrowdingAttribute);
}

/// <summary>An error answered as Google APIs do: <c>{"error": {"code", "message", "status"}}</c>.</summary>
sealed class EmulatorException(int code, string status, string message) : Exception(message)
{
    public int Code { get; } = code;
    public string Status { get; } = status;
}

/// <summary>Everything the emulator holds. One lock: it is a test double, not a database.</summary>
sealed class EmulatorState
{
    public readonly Lock Sync = new();
    public Dictionary<string, EmulatedIndex> Indexes { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, IndexEndpoint> Endpoints { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, Operation> Operations { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, SortedDictionary<string, byte[]>> Buckets { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, (string Bucket, string Name, string ContentType, MemoryStream Data)> Uploads { get; } =
        new(StringComparer.Ordinal);
    /// <summary>Finished upload sessions: asking one again answers with its object, as Cloud Storage does.</summary>
    public Dictionary<string, StorageObject> CompletedUploads { get; } = new(StringComparer.Ordinal);
    // client_email → public key PEM
    public Dictionary<string, string> ServiceAccountKeys { get; } = new(StringComparer.Ordinal);
    public HashSet<string> Tokens { get; } = new(StringComparer.Ordinal);
    long counter;

    public string NextId() => Interlocked.Increment(ref counter).ToString();

    /// <summary>A finished operation, reported not done on creation and done from the first poll on, as a real
    /// long-running operation would be after a while.</summary>
    public Operation NewOperation(string resource, object? response, OperationError? error = null)
    {
        var name = $"{resource}/operations/{NextId()}";
        var done = new Operation(name, true, error, response is null ? null
            : JsonSerializer.SerializeToElement(response, GoogleJson.Options));
        Operations[name] = done;
        return done with { Done = false, Response = null, Error = null };
    }

    public SortedDictionary<string, byte[]> Bucket(string name)
    {
        if (!Buckets.TryGetValue(name, out var bucket)) Buckets[name] = bucket = new(StringComparer.Ordinal);
        return bucket;
    }
}
