using System.Net.Http.Json;
using Microsoft.Extensions.Options;

namespace Catalogs.VertexAI;

/// <summary>
/// Vertex AI Vector Search (Matching Engine) over its v1 REST API: indexes, index endpoints, datapoint streaming,
/// queries on the endpoint's public domain, and long-running operations.
/// </summary>
public sealed class MatchingEngineClient(HttpClient http, IOptions<VertexOptions> options)
{
    VertexOptions Options => options.Value;

    Uri Api(string resource, string suffix = "") => new(Options.ApiBaseFor(ResourceNames.Location(resource)),
        $"v1/{resource}{suffix}");

    Uri Public(string domain, string endpoint, string suffix) => new(Options.PublicEndpointFor(domain),
        $"v1/{endpoint}{suffix}");

    /// <summary><c>indexes.create</c> under <paramref name="parent"/> (<c>projects/{p}/locations/{l}</c>).</summary>
    public Task<Operation> CreateIndexAsync(string parent, IndexResource index, CancellationToken cancellationToken =
        default)
    {
        RequireParent(parent);
        return SendAsync<Operation>(HttpMethod.Post, Api(parent, "/indexes"), index, cancellationToken);
    }

    public Task<IndexResource> GetIndexAsync(string index, CancellationToken cancellationToken = default)
    {
        RequireIndex(index);
        return SendAsync<IndexResource>(HttpMethod.Get, Api(index), null, cancellationToken);
    }

    /// <summary><c>indexes.patch</c> of the metadata: a batch update from <c>contentsDeltaUri</c>, or a complete
    /// overwrite when <c>isCompleteOverwrite</c>.</summary>
    public Task<Operation> PatchIndexMetadataAsync(string index, IndexMetadata metadata,
        CancellationToken cancellationToken = default)
    {
        RequireIndex(index);
        return SendAsync<Operation>(HttpMethod.Patch, Api(index, "?updateMask=metadata"), new { metadata },
            cancellationToken);
    }

    /// <summary><c>indexes.upsertDatapoints</c> (STREAM_UPDATE indexes): idempotent, so safe to retry.</summary>
    public Task UpsertDatapointsAsync(string index, IReadOnlyList<IndexDatapoint> datapoints,
        CancellationToken cancellationToken = default)
    {
        RequireIndex(index);
        return SendAsync<object>(HttpMethod.Post, Api(index, ":upsertDatapoints"),
            new UpsertDatapointsRequest(datapoints), cancellationToken);
    }

    /// <summary><c>indexes.removeDatapoints</c>: idempotent (absent ids are fine).</summary>
    public Task RemoveDatapointsAsync(string index, IReadOnlyList<string> datapointIds,
        CancellationToken cancellationToken = default)
    {
        RequireIndex(index);
        return SendAsync<object>(HttpMethod.Post, Api(index, ":removeDatapoints"),
            new RemoveDatapointsRequest(datapointIds), cancellationToken);
    }

    public Task<Operation> CreateIndexEndpointAsync(string parent, IndexEndpoint endpoint,
        CancellationToken cancellationToken = default)
    {
        RequireParent(parent);
        return SendAsync<Operation>(HttpMethod.Post, Api(parent, "/indexEndpoints"), endpoint, cancellationToken);
    }

    public Task<IndexEndpoint> GetIndexEndpointAsync(string endpoint, CancellationToken cancellationToken = default)
    {
        RequireEndpoint(endpoint);
        return SendAsync<IndexEndpoint>(HttpMethod.Get, Api(endpoint), null, cancellationToken);
    }

    public Task<Operation> DeployIndexAsync(string endpoint, DeployedIndex deployedIndex,
        CancellationToken cancellationToken = default)
    {
        RequireEndpoint(endpoint);
        if (!ResourceNames.IsIndex(deployedIndex.Index))
            throw new ArgumentException($"'{deployedIndex.Index}' is not an index resource name.",
            nameof(deployedIndex));
        return SendAsync<Operation>(HttpMethod.Post, Api(endpoint, ":deployIndex"),
            new DeployIndexRequest(deployedIndex), cancellationToken);
    }

    /// <summary><c>findNeighbors</c> on the endpoint's public domain.</summary>
    public Task<FindNeighborsResponse> FindNeighborsAsync(string publicDomain, string endpoint,
        FindNeighborsRequest request, CancellationToken cancellationToken = default)
    {
        RequireEndpoint(endpoint);
        return SendAsync<FindNeighborsResponse>(HttpMethod.Post, Public(publicDomain, endpoint, ":findNeighbors"),
            request, cancellationToken);
    }

    public Task<ReadIndexDatapointsResponse> ReadIndexDatapointsAsync(string publicDomain, string endpoint,
        ReadIndexDatapointsRequest request, CancellationToken cancellationToken = default)
    {
        RequireEndpoint(endpoint);
        return SendAsync<ReadIndexDatapointsResponse>(HttpMethod.Post, Public(publicDomain, endpoint,
            ":readIndexDatapoints"), request, cancellationToken);
    }

    public Task<Operation> GetOperationAsync(string name, CancellationToken cancellationToken = default) =>
        SendAsync<Operation>(HttpMethod.Get, Api(name), null, cancellationToken);

    /// <summary>Polls <paramref name="operation"/> until it is done; a failed operation throws.</summary>
    public async Task<Operation> WaitAsync(Operation operation, CancellationToken cancellationToken = default)
    {
        while (!operation.Done)
        {
            await Task.Delay(Options.OperationPollInterval, cancellationToken);
            operation = await GetOperationAsync(operation.Name, cancellationToken);
        }
        if (operation.Error is { } error)
            throw new GoogleApiException((System.Net.HttpStatusCode)StatusCodes.FromRpc(error.Code),
                StatusCodes.RpcName(error.Code), error.Message ?? "The operation failed.");
        return operation;
    }

    async Task<T> SendAsync<T>(HttpMethod method, Uri uri, object? body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, uri);
        if (body is not null) request.Content = JsonContent.Create(body, body.GetType(), options: GoogleJson.Options);
        using var response = await http.SendAsync(request, cancellationToken);
        if (!response.IsSuccessStatusCode)
            throw await GoogleApiException.FromResponseAsync(response, cancellationToken);
        return (await response.Content.ReadFromJsonAsync<T>(GoogleJson.Options, cancellationToken))!;
    }

    static void RequireParent(string parent)
    {
        if (!ResourceNames.IsParent(parent))
            throw new ArgumentException($"'{parent}' is not projects/{{project}}/locations/{{location}}.",
            nameof(parent));
    }

    static void RequireIndex(string index)
    {
        if (!ResourceNames.IsIndex(index))
            throw new ArgumentException($"'{index}' is not an index resource name.", nameof(index));
    }

    static void RequireEndpoint(string endpoint)
    {
        if (!ResourceNames.IsIndexEndpoint(endpoint))
            throw new ArgumentException($"'{endpoint}' is not an index endpoint resource name.", nameof(endpoint));
    }
}

/// <summary>google.rpc.Code ↔ HTTP status, for operation errors.</summary>
public static class StatusCodes
{
    static readonly (int Rpc, string Name, int Http)[] Table =
    [
        (1, "CANCELLED", 499), (2, "UNKNOWN", 500), (3, "INVALID_ARGUMENT", 400), (4, "DEADLINE_EXCEEDED", 504),
        (5, "NOT_FOUND", 404), (6, "ALREADY_EXISTS", 409), (7, "PERMISSION_DENIED", 403), (8, "RESOURCE_EXHAUSTED",
            429),
        (9, "FAILED_PRECONDITION", 400), (10, "ABORTED", 409), (11, "OUT_OF_RANGE", 400), (12, "UNIMPLEMENTED", 501),
        (13, "INTERNAL", 500), (14, "UNAVAILABLE", 503), (16, "UNAUTHENTICATED", 401),
    ];

    public static int FromRpc(int code) => Table.FirstOrDefault(t => t.Rpc == code).Http is var h and > 0 ? h : 500;

    public static string RpcName(int code) => Table.FirstOrDefault(t => t.Rpc == code).Name ?? "UNKNOWN";

    public static string NameOfHttp(int http) => Table.FirstOrDefault(t => t.Http == http).Name ?? "UNKNOWN";

    public static int RpcOfHttp(int http) => Table.FirstOrDefault(t => t.Http == http).Rpc is var r and > 0 ? r : 2;
}
