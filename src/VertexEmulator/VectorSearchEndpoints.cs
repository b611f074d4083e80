using System.Text.Json;
using Catalogs.VectorIndex;
using Catalogs.VertexAI;

namespace Catalogs.VertexEmulator;

/// <summary>projects.locations.indexes, indexEndpoints and operations, in memory, with exact search.</summary>
static class VectorSearchEndpoints
{
    const string Parent = "/v1/projects/{project}/locations/{location}";

    public static void Map(WebApplication app)
    {
        var api = app.MapGroup(Parent);
        api.MapPost("/indexes", (string project, string location, IndexResource body, EmulatorState state) =>
            Locked(state, () => CreateIndex($"projects/{project}/locations/{location}", body, state)));
        api.MapGet("/indexes/{id}", (string project, string location, string id, EmulatorState state) =>
            Locked(state, () => Index(state, project, location,
                id).Resource with
            { IndexStats = Stats(Index(state, project, location, id)) }));
        api.MapMethods("/indexes/{id}", ["PATCH"], (string project, string location, string id, JsonElement body,
            EmulatorState state) =>
            Locked(state, () => Patch(Index(state, project, location, id), body, state)));
        api.MapPost("/indexes/{id}:upsertDatapoints", (string project, string location, string id,
            UpsertDatapointsRequest body, EmulatorState state, FaultInjector faults) =>
            Locked(state, () => Upsert(Index(state, project, location, id), body,
                faults.Settings.RejectDatapointsContaining)));
        api.MapPost("/indexes/{id}:removeDatapoints", (string project, string location, string id,
            RemoveDatapointsRequest body, EmulatorState state) =>
            Locked(state, () =>
            {
                var index = Index(state, project, location, id);
                RequireStreaming(index);
                foreach (var datapointId in body.DatapointIds ?? []) index.Remove(datapointId);
                return new { };
            }));
        api.MapPost("/indexEndpoints", (string project, string location, IndexEndpoint body, HttpContext context,
            EmulatorState state) => Locked(state, () =>
        {
            var name = $"projects/{project}/locations/{location}/indexEndpoints/{state.NextId()}";
            var endpoint =
                body with { Name = name, PublicEndpointDomainName = context.Request.Host.Value, DeployedIndexes = [] };
            state.Endpoints[name] = endpoint;
            return state.NewOperation(name, endpoint);
        }));
        api.MapGet("/indexEndpoints/{id}", (string project, string location, string id, EmulatorState state) =>
            Locked(state, () => Endpoint(state, project, location, id)));
        api.MapPost("/indexEndpoints/{id}:deployIndex", (string project, string location, string id,
            DeployIndexRequest body, EmulatorState state) => Locked(state, () =>
        {
            var endpoint = Endpoint(state, project, location, id);
            var deployed = body.DeployedIndex;
            if (!state.Indexes.ContainsKey(deployed.Index))
                throw new EmulatorException(404, "NOT_FOUND", $"Index {deployed.Index} not found.");
            if (endpoint.DeployedIndexes!.Any(d => d.Id == deployed.Id))
                throw new EmulatorException(409, "ALREADY_EXISTS", $"Deployed index {deployed.Id} exists.");
            state.Endpoints[endpoint.Name!] =
                endpoint with { DeployedIndexes = [.. endpoint.DeployedIndexes!, deployed] };
            return state.NewOperation(endpoint.Name!, new { deployedIndexId = deployed.Id });
        }));
        api.MapPost("/indexEndpoints/{id}:findNeighbors", (string project, string location, string id,
            FindNeighborsRequest body, EmulatorState state) =>
            Locked(state, () => FindNeighbors(Deployed(state, project, location, id, body.DeployedIndexId), body)));
        api.MapPost("/indexEndpoints/{id}:readIndexDatapoints", (string project, string location, string id,
            ReadIndexDatapointsRequest body, EmulatorState state) =>
            Locked(state, () =>
            {
                var index = Deployed(state, project, location, id, body.DeployedIndexId);
                return new ReadIndexDatapointsResponse(body.Ids.Where(index.Datapoints.ContainsKey).Select(i =>
                    index.Datapoints[i]).ToArray());
            }));
        app.MapGet("/v1/{**name}", (string name, EmulatorState state) => Locked(state, () =>
            name.Contains("/operations/") && state.Operations.TryGetValue(name, out var op) ? op
                : throw new EmulatorException(404, "NOT_FOUND", $"{name} not found.")));
    }

    static IResult Locked<T>(EmulatorState state, Func<T> action)
    {
        try
        {
            lock (state.Sync) return Results.Json(action(), GoogleJson.Options);
        }
        catch (EmulatorException ex)
        {
            return Results.Json(new { error = new { code = ex.Code, message = ex.Message, status = ex.Status } },
                statusCode: ex.Code);
        }
    }

    static Operation CreateIndex(string parent, IndexResource body, EmulatorState state)
    {
        var config = body.Metadata?.Config ?? throw Invalid("metadata.config is required.");
        if (config.Dimensions is < 1 or > 4096) throw Invalid("config.dimensions must be between 1 and 4096.");
        EmulatedIndex.Metric(config.DistanceMeasureType);
        if (config.FeatureNormType is not (null or "NONE" or "UNIT_L2_NORM" or "FEATURE_NORM_TYPE_UNSPECIFIED"))
            throw Invalid($"Unknown featureNormType '{config.FeatureNormType}'.");
        if (config.AlgorithmConfig is not { TreeAhConfig: not null } and not { BruteForceConfig: not null })
            throw Invalid("config.algorithmConfig needs treeAhConfig or bruteForceConfig.");
        if (body.IndexUpdateMethod is not ("STREAM_UPDATE" or "BATCH_UPDATE"))
            throw Invalid("indexUpdateMethod must be STREAM_UPDATE or BATCH_UPDATE.");
        var name = $"{parent}/indexes/{state.NextId()}";
        var now = DateTimeOffset.UtcNow.ToString("O");
        var resource = body with { Name = name, CreateTime = now, UpdateTime = now, Etag = state.NextId() };
        state.Indexes[name] = new EmulatedIndex(resource);
        return state.NewOperation(name, resource);
    }

    static IndexStats Stats(EmulatedIndex index) => new(index.Datapoints.Count, 1);

    static object Upsert(EmulatedIndex index, UpsertDatapointsRequest body, string? rejected)
    {
        RequireStreaming(index);
        // Validated as a whole first: a bad datapoint fails the request and changes nothing.
        foreach (var p in body.Datapoints ?? [])
        {
            if (string.IsNullOrEmpty(p.DatapointId)) throw Invalid("datapointId is required.");
            if (rejected is not null && p.DatapointId.Contains(rejected, StringComparison.Ordinal))
                throw Invalid($"Datapoint {p.DatapointId} is invalid (injected).");
            if (p.FeatureVector is null || p.FeatureVector.Length != index.Dimensions)
                throw Invalid($"Datapoint {p.DatapointId}: featureVector has {p.FeatureVector?.Length ?? 0} " +
                    $"dimensions; the index has {index.Dimensions}.");
            if (p.FeatureVector.Any(x => !float.IsFinite(x)))
                throw Invalid($"Datapoint {p.DatapointId}: featureVector holds a non-finite value.");
        }
        foreach (var p in body.Datapoints ?? []) index.Upsert(p);
        index.Resource = index.Resource with { UpdateTime = DateTimeOffset.UtcNow.ToString("O") };
        return new { };
    }

    static void RequireStreaming(EmulatedIndex index)
    {
        if (index.Resource.IndexUpdateMethod != "STREAM_UPDATE")
            throw new EmulatorException(400, "FAILED_PRECONDITION", "StreamUpdate is not enabled on this index.");
    }

    /// <summary>A batch update: every JSONL object under <c>contentsDeltaUri</c> is upserted, every id listed under its
    /// <c>delete/</c> folder removed; <c>isCompleteOverwrite</c> replaces the whole index.</summary>
    static Operation Patch(EmulatedIndex index, JsonElement body, EmulatorState state)
    {
        var metadata = body.GetProperty("metadata").Deserialize<IndexMetadata>(GoogleJson.Options)
            ?? throw Invalid("metadata is required.");
        if (metadata.ContentsDeltaUri is not { } uri) throw Invalid("metadata.contentsDeltaUri is required.");
        if (!ResourceNames.IsGcsUri(uri)) throw Invalid($"contentsDeltaUri '{uri}' is not a gs:// URI.");
        var (bucketName, prefix) = ResourceNames.SplitGcsUri(uri);
        prefix = prefix.Length == 0 || prefix.EndsWith('/') ? prefix : prefix + "/";
        if (!state.Buckets.TryGetValue(bucketName, out var bucket))
            throw new EmulatorException(404, "NOT_FOUND", $"Bucket {bucketName} not found.");
        var upserts = new List<IndexDatapoint>();
        var removals = new List<string>();
        foreach (var (name, bytes) in bucket.Where(o => o.Key.StartsWith(prefix, StringComparison.Ordinal)))
        {
            bool delete = name[prefix.Length..].StartsWith("delete/", StringComparison.Ordinal);
            foreach (var line in System.Text.Encoding.UTF8.GetString(bytes).Split('\n',
                StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (delete) { removals.Add(line); continue; }
                try { upserts.Add(JsonlRecord.Parse(line)); }
                catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException
                    or FormatException)
                {
                    return state.NewOperation(index.Resource.Name!, null, new OperationError(3,
                        $"{name}: malformed record: {ex.Message}"));
                }
            }
        }
        if (upserts.FirstOrDefault(p => p.FeatureVector!.Length != index.Dimensions) is { } bad)
            return state.NewOperation(index.Resource.Name!, null, new OperationError(3,
                $"Datapoint {bad.DatapointId} has {bad.FeatureVector!.Length} dimensions; the index has " +
                $"{index.Dimensions}."));
        if (metadata.IsCompleteOverwrite == true)
        {
            index.Datapoints.Clear();
            index.Search = EmulatedIndex.NewSearch(index.Resource);
        }
        foreach (var p in upserts) index.Upsert(p);
        foreach (var id in removals) index.Remove(id);
        index.Resource = index.Resource with
        {
            UpdateTime = DateTimeOffset.UtcNow.ToString("O"),
            Metadata = index.Resource.Metadata with { ContentsDeltaUri = uri },
        };
        return state.NewOperation(index.Resource.Name!, index.Resource);
    }

    static FindNeighborsResponse FindNeighbors(EmulatedIndex index, FindNeighborsRequest body)
    {
        var results = new List<NearestNeighbors>();
        foreach (var query in body.Queries ?? [])
        {
            var sparse = query.Datapoint.SparseEmbedding;
            var vector = query.Datapoint.FeatureVector is { Length: > 0 } v ? v
                : index.Datapoints.TryGetValue(query.Datapoint.DatapointId ?? "", out var stored)
                    ? stored.FeatureVector!
                : sparse is not null ? null
                : throw Invalid("A query needs a featureVector, a sparseEmbedding or the datapointId of a stored " +
                    "datapoint.");
            if (vector is not null && vector.Length != index.Dimensions)
                throw Invalid($"The query has {vector.Length} dimensions; the index has {index.Dimensions}.");
            if (query.NeighborCount < 1) throw Invalid("neighborCount must be positive.");
            if (query.Rrf is { } rrf && !(rrf.Alpha >= 0 && rrf.Alpha <= 1))
                throw Invalid("rrf.alpha must lie in [0, 1].");
            var filter = new SearchFilter(
                (query.Datapoint.Restricts ?? []).Select(r => new TokenRestrict(r.Namespace, r.AllowList ?? [],
                    r.DenyList ?? [])).ToArray(),
                (query.Datapoint.NumericRestricts ?? []).Select(n => new NumericCondition(n.Namespace, Op(n.Op),
                    n.ValueInt ?? n.ValueDouble ?? n.ValueFloat ?? 0)).ToArray());
            var dense = vector is null ? [] : index.Search.Search(vector, new SearchOptions(query.NeighborCount,
                filter, sparse is null ? query.PerCrowdingAttributeNeighborCount : null));
            IndexDatapoint Shown(string id) => body.ReturnFullDatapoint ? index.Datapoints[id]
                : new IndexDatapoint(id, CrowdingTag: index.Datapoints[id].CrowdingTag);
            if (sparse is null)
            {
                results.Add(new NearestNeighbors(query.Datapoint.DatapointId, dense.Select(h =>
                    new NeighborResult(Shown(h.Id), h.Distance)).ToArray()));
                continue;
            }
            // Sparse: the dot product with every datapoint that has a sparse embedding and passes the filter.
            var lexical = index.Datapoints.Values.Where(p => p.SparseEmbedding is not null
                    && filter.Matches(EmulatedIndex.Attributes(p)))
                .Select(p => (p.DatapointId, Dot: p.SparseEmbedding!.Dot(sparse))).Where(x => x.Dot > 0)
                .OrderByDescending(x => x.Dot).ThenBy(x => x.DatapointId, StringComparer.Ordinal)
                .Take(query.NeighborCount).ToArray();
            var sparseOf = lexical.ToDictionary(x => x.DatapointId, x => x.Dot, StringComparer.Ordinal);
            var denseOf = dense.ToDictionary(h => h.Id, h => (double)h.Distance, StringComparer.Ordinal);
            // Hybrid: reciprocal rank fusion (k 60), alpha weighing the dense ranking.
            double alpha = vector is null ? 0 : query.Rrf?.Alpha ?? 0.5;
            var fused = new Dictionary<string, double>(StringComparer.Ordinal);
            for (int r = 0; r < dense.Count; r++) fused[dense[r].Id] = alpha / (61 + r);
            for (int r = 0; r < lexical.Length; r++)
                fused[lexical[r].DatapointId] = fused.GetValueOrDefault(lexical[r].DatapointId)
                    + (1 - alpha) / (61 + r);
            var collector = new ResultCollector(query.NeighborCount, query.PerCrowdingAttributeNeighborCount);
            foreach (var (id, score) in fused.OrderByDescending(f => f.Value)
                .ThenBy(f => f.Key, StringComparer.Ordinal))
                collector.Add(id, (float)-score, index.Datapoints[id].CrowdingTag?.CrowdingAttribute);
            results.Add(new NearestNeighbors(query.Datapoint.DatapointId, collector.ToList().Select(n =>
                new NeighborResult(Shown(n.Id), denseOf.GetValueOrDefault(n.Id), sparseOf.GetValueOrDefault(n.Id)))
                .ToArray()));
        }
        return new FindNeighborsResponse(results);
    }

    static NumericOp Op(string? op) => op switch
    {
        "LESS" => NumericOp.Less,
        "LESS_EQUAL" => NumericOp.LessEqual,
        "EQUAL" or null => NumericOp.Equal,
        "GREATER_EQUAL" => NumericOp.GreaterEqual,
        "GREATER" => NumericOp.Greater,
        "NOT_EQUAL" => NumericOp.NotEqual,
        _ => throw Invalid($"Unknown numeric op '{op}'."),
    };

    static EmulatedIndex Index(EmulatorState state, string project, string location, string id) =>
        state.Indexes.GetValueOrDefault($"projects/{project}/locations/{location}/indexes/{id}")
            ?? throw new EmulatorException(404, "NOT_FOUND", $"Index {id} not found.");

    static IndexEndpoint Endpoint(EmulatorState state, string project, string location, string id) =>
        state.Endpoints.GetValueOrDefault($"projects/{project}/locations/{location}/indexEndpoints/{id}")
            ?? throw new EmulatorException(404, "NOT_FOUND", $"Index endpoint {id} not found.");

    static EmulatedIndex Deployed(EmulatorState state, string project, string location, string id,
        string deployedIndexId)
    {
        var deployed = Endpoint(state, project, location, id).DeployedIndexes!.FirstOrDefault(d =>
            d.Id == deployedIndexId)
            ?? throw new EmulatorException(404, "NOT_FOUND",
                $"Deployed index {deployedIndexId} not found on endpoint {id}.");
        return state.Indexes[deployed.Index];
    }

    static EmulatorException Invalid(string message) => new(400, "INVALID_ARGUMENT", message);
}
