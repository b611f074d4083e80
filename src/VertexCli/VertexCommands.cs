using System.CommandLine;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Catalogs.VertexAI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Catalogs.VertexCli;

/// <summary>
/// <c>catalogs-vertex</c>: the Matching Engine side of a catalog on real Google Cloud (or the emulator):
/// create an index shaped by a catalog's config, create a public endpoint, deploy, and describe them.
/// </summary>
public static class VertexCommands
{
    public static Task<int> RunAsync(string[] args, TextWriter output) => Build(output).Parse(args).InvokeAsync();

    static RootCommand Build(TextWriter output)
    {
        var credentials = new Option<string?>("--credentials")
        {
            Description = "Service-account key file (default: Application Default Credentials)",
            Recursive = true,
        };
        var apiBase = new Option<string?>("--api-base")
        {
            Description =
                "Vertex AI API root, e.g. the emulator's (default: https://{location}-aiplatform.googleapis.com/)",
            Recursive = true,
        };
        var root = new RootCommand("Vertex AI Vector Search for Catalogs") { credentials, apiBase };

        var parent =
            new Option<string>("--parent") { Description = "projects/{project}/locations/{location}", Required = true };
        var displayName = new Option<string>("--display-name") { Description = "Display name", Required = true };
        var catalogUrl = new Option<string?>("--catalog-url")
        {
            Description =
                "Take dimensions and metric from this catalog, e.g. http://localhost:5080/v1/catalogs/fashion",
        };
        var dimensions = new Option<int?>("--dimensions") { Description = "Embedding length (when no --catalog-url)" };
        var metric =
            new Option<string?>("--metric") { Description = "cosine, dot, squaredL2 or l1 (when no --catalog-url)" };
        var update = new Option<string>("--update")
        {
            Description = "stream (live sync) or batch (exports)",
            DefaultValueFactory = _ => "stream",
        };
        var bruteForce = new Option<bool>("--brute-force")
        {
            Description = "Exact search instead of tree-AH (small indexes, recall checks)",
        };
        var createIndex = new Command("create-index", "Create an index shaped by a catalog's config and wait for it")
        {
            parent, displayName, catalogUrl, dimensions, metric, update, bruteForce,
        };
        createIndex.SetAction(async (parse, ct) =>
        {
            var (d, m) = await ShapeAsync(parse.GetValue(catalogUrl), parse.GetValue(dimensions),
                parse.GetValue(metric), ct);
            var (distance, norm) = m switch
            {
                // Google's advice for cosine: normalise, then dot product
                "cosine" => ("DOT_PRODUCT_DISTANCE", "UNIT_L2_NORM"),
                "dot" => ("DOT_PRODUCT_DISTANCE", "NONE"),
                "squaredL2" => ("SQUARED_L2_DISTANCE", "NONE"),
                "l1" => ("L1_DISTANCE", "NONE"),
                _ => throw new ArgumentException($"Unknown metric '{m}'."),
            };
            var algorithm = parse.GetValue(bruteForce) ? new AlgorithmConfig(BruteForceConfig: new BruteForceConfig())
                : new AlgorithmConfig(new TreeAhConfig(1000, 10));
            var index = new IndexResource(null, parse.GetValue(displayName)!, new IndexMetadata(new IndexConfig(d,
                distance, algorithm, 150, norm, "SHARD_SIZE_SMALL")),
                parse.GetValue(update) == "batch" ? "BATCH_UPDATE" : "STREAM_UPDATE", "Created by catalogs-vertex");
            var client = Client(parse.GetValue(credentials), parse.GetValue(apiBase));
            var done = await client.WaitAsync(await client.CreateIndexAsync(parse.GetValue(parent)!, index, ct), ct);
            Print(output, done.Response);
            return 0;
        });

        var indexName =
            new Option<string>("--index") { Description = "projects/{p}/locations/{l}/indexes/{id}", Required = true };
        var describeIndex = new Command("describe-index", "Show an index") { indexName };
        describeIndex.SetAction(async (parse, ct) =>
        {
            Print(output, await Client(parse.GetValue(credentials),
                parse.GetValue(apiBase)).GetIndexAsync(parse.GetValue(indexName)!, ct));
            return 0;
        });

        var endpointParent =
            new Option<string>("--parent") { Description = "projects/{project}/locations/{location}", Required = true };
        var endpointName = new Option<string>("--display-name") { Description = "Display name", Required = true };
        var createEndpoint = new Command("create-endpoint",
            "Create a public index endpoint and wait for it") { endpointParent, endpointName };
        createEndpoint.SetAction(async (parse, ct) =>
        {
            var client = Client(parse.GetValue(credentials), parse.GetValue(apiBase));
            var done = await client.WaitAsync(await client.CreateIndexEndpointAsync(parse.GetValue(endpointParent)!,
                new IndexEndpoint(null, parse.GetValue(endpointName)!, PublicEndpointEnabled: true), ct), ct);
            Print(output, done.Response);
            return 0;
        });

        var endpoint = new Option<string>("--endpoint")
        {
            Description = "projects/{p}/locations/{l}/indexEndpoints/{id}",
            Required = true,
        };
        var deployIndex =
            new Option<string>("--index") { Description = "projects/{p}/locations/{l}/indexes/{id}", Required = true };
        var deployedId = new Option<string>("--deployed-id")
        {
            Description = "Id of the deployment (letters, digits, underscores)",
            Required = true,
        };
        var deploy = new Command("deploy",
            "Deploy an index to an endpoint and wait (real GCP: 20-60 minutes)") { endpoint, deployIndex, deployedId };
        deploy.SetAction(async (parse, ct) =>
        {
            var client = Client(parse.GetValue(credentials), parse.GetValue(apiBase));
            await client.WaitAsync(await client.DeployIndexAsync(parse.GetValue(endpoint)!,
                new DeployedIndex(parse.GetValue(deployedId)!, parse.GetValue(deployIndex)!), ct), ct);
            Print(output, await client.GetIndexEndpointAsync(parse.GetValue(endpoint)!, ct));
            return 0;
        });

        var describeEndpointName = new Option<string>("--endpoint")
        {
            Description = "projects/{p}/locations/{l}/indexEndpoints/{id}",
            Required = true,
        };
        var describeEndpoint = new Command("describe-endpoint",
            "Show an index endpoint, its public domain and deployed indexes") { describeEndpointName };
        describeEndpoint.SetAction(async (parse, ct) =>
        {
            Print(output, await Client(parse.GetValue(credentials),
                parse.GetValue(apiBase)).GetIndexEndpointAsync(parse.GetValue(describeEndpointName)!, ct));
            return 0;
        });

        root.Subcommands.Add(createIndex);
        root.Subcommands.Add(describeIndex);
        root.Subcommands.Add(createEndpoint);
        root.Subcommands.Add(deploy);
        root.Subcommands.Add(describeEndpoint);
        return root;
    }

    /// <summary>Dimensions and metric: from the catalog's config through the Catalogs API, or as given.</summary>
    static async Task<(int Dimensions, string Metric)> ShapeAsync(string? catalogUrl, int? dimensions, string? metric,
        CancellationToken ct)
    {
        if (catalogUrl is null)
            return (dimensions ?? throw new ArgumentException("Give --catalog-url, or --dimensions and --metric."),
                metric ?? "cosine");
        using var http = new HttpClient();
        var catalog = await http.GetFromJsonAsync<JsonNode>(catalogUrl, ct)
            ?? throw new InvalidOperationException($"{catalogUrl} returned nothing.");
        var config = catalog["config"]!;
        return (config["dimensions"]!.GetValue<int>(), config["metric"]!.GetValue<string>());
    }

    static MatchingEngineClient Client(string? credentials, string? apiBase)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Vertex:CredentialsFile"] = credentials,
            ["Vertex:ApiBase"] = apiBase,
            ["Vertex:OperationPollInterval"] = apiBase is null ? "00:00:10" : "00:00:00.050",
        };
        var services = new ServiceCollection();
        services.AddVertexClients(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
        return services.BuildServiceProvider().GetRequiredService<MatchingEngineClient>();
    }

    static void Print<T>(TextWriter output, T value) => output.WriteLine(JsonSerializer.Serialize(value,
        new JsonSerializerOptions(GoogleJson.Options) { WriteIndented = true }));
}
