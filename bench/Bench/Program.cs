using System.CommandLine;
using Catalogs.Bench;

// Benchmarks for docs/benchmarks.md. Run in Release: dotnet run -c Release --project bench/Bench -- <command> [options]
var repoRoot = FindRepoRoot();
var shared = Path.GetFullPath(Path.Combine(repoRoot, "..", "shared"));

var sizes = new Option<int[]>("--sizes")
{
    Description = "Longer side of the test photos, in pixels",
    DefaultValueFactory = _ => [224, 1024],
    AllowMultipleArgumentsPerToken = true,
};
var count = new Option<int>("--count") { Description = "Photos per size", DefaultValueFactory = _ => 512 };
var encoder = new Command("encoder", "Encoder pipeline throughput against its parts measured alone") { sizes, count };
encoder.SetAction(async (parse, _) =>
{
    await EncoderBenchmark.RunAsync(Path.Combine(shared, "models", "mobilenetv2-12-int8.onnx"), Path.Combine(shared,
        "datasets"), parse.GetValue(sizes)!, parse.GetValue(count));
    return 0;
});

var rate = new Option<int>("--rate") { Description = "Upserts per second", DefaultValueFactory = _ => 200 };
var seconds = new Option<int>("--seconds") { Description = "Duration", DefaultValueFactory = _ => 30 };
var dims = new Option<int>("--dims") { Description = "Vector dimensions", DefaultValueFactory = _ => 1280 };
var shards = new Option<int>("--shards") { Description = "Shards of the catalog", DefaultValueFactory = _ => 2 };
var url = new Option<string?>("--url")
{
    Description = "A running API host (e.g. of deploy/local-cluster.sh) instead of an embedded one started here",
};
var upserts = new Command("upserts",
    "Upsert → acknowledged (durable and searchable) latency through the API at a steady rate")
{
    rate, seconds, dims, shards, url,
};
upserts.SetAction(async (parse, _) =>
{
    await using var api = parse.GetValue(url) is null ? await ApiProcess.StartAsync(repoRoot, "Release") : null;
    using var external = parse.GetValue(url) is { } target
        ? new HttpClient { BaseAddress = new Uri(target), Timeout = TimeSpan.FromMinutes(5) }
        : null;
    await ApiBenchmarks.UpsertAsync(external ?? api!.Http, parse.GetValue(rate), parse.GetValue(seconds),
        parse.GetValue(dims), parse.GetValue(shards));
    return 0;
});

var points = new Option<int>("--points") { Description = "Vectors in the catalog", DefaultValueFactory = _ => 100_000 };
var clients = new Option<int[]>("--clients")
{
    Description = "Concurrent clients to try",
    DefaultValueFactory = _ => [1, 4],
    AllowMultipleArgumentsPerToken = true,
};
var k = new Option<int>("--k") { Description = "neighborCount", DefaultValueFactory = _ => 10 };
var apiQuantization =
    new Option<string>("--quantization") { Description = "none or int8", DefaultValueFactory = _ => "none" };
var rerank = new Option<string>("--rerank")
{
    Description = "With int8: memory or mapped re-rank vectors",
    DefaultValueFactory = _ => "memory",
};
var search = new Command("search", "Search-by-vector latency and throughput through the API")
{
    points, dims, shards, seconds, clients, k, apiQuantization, rerank, url,
};
search.SetAction(async (parse, _) =>
{
    await using var api = parse.GetValue(url) is null ? await ApiProcess.StartAsync(repoRoot, "Release") : null;
    using var external = parse.GetValue(url) is { } target
        ? new HttpClient { BaseAddress = new Uri(target), Timeout = TimeSpan.FromMinutes(5) }
        : null;
    await ApiBenchmarks.SearchAsync(external ?? api!.Http, api, parse.GetValue(points), parse.GetValue(dims),
        parse.GetValue(shards), parse.GetValue(seconds), parse.GetValue(clients)!, parse.GetValue(k),
        parse.GetValue(apiQuantization)!, parse.GetValue(rerank)!);
    return 0;
});

var baseFile = new Option<string?>("--base") { Description = "Base vectors (.fvecs or .npy, float32)" };
var queryFile = new Option<string?>("--queries") { Description = "Query vectors (.fvecs or .npy, float32)" };
var truthFile = new Option<string?>("--ground-truth")
{
    Description = "Exact neighbours (.ivecs); computed and written when missing",
};
var synthetic = new Option<int[]?>("--synthetic")
{
    Description = "Instead of files: N Q D, deterministic clustered Gaussian data",
    AllowMultipleArgumentsPerToken = true,
};
var annK = new Option<int>("--k") { DefaultValueFactory = _ => 10 };
var annM = new Option<int>("--m") { DefaultValueFactory = _ => 16 };
var efc = new Option<int>("--ef-construction") { DefaultValueFactory = _ => 200 };
var efs = new Option<string>("--ef")
{
    Description = "Comma-separated ef values to sweep",
    DefaultValueFactory = _ => "10,20,40,80,160",
};
var threads = new Option<int>("--threads")
{
    Description = "Build threads",
    DefaultValueFactory = _ => Environment.ProcessorCount,
};
var metric =
    new Option<string>("--metric") { Description = "cosine, dot, l2 or l1", DefaultValueFactory = _ => "cosine" };
var filtered = new Option<double>("--filter-fraction")
{
    Description = "Also measure a restrict matching this fraction of points (e.g. 0.01)",
    DefaultValueFactory = _ => 0,
};
var quantization = new Option<string>("--quantization")
{
    Description = "What the walk reads: none (float32) or int8 (re-ranked with float32)",
    DefaultValueFactory = _ => "none",
};
var rerankDir = new Option<string?>("--rerank-dir")
{
    Description = "With int8: keep the float32 re-rank vectors in memory-mapped files in this directory",
};
var indexCache = new Option<string?>("--index-cache")
{
    Description = "Load the index from this snapshot when it exists (skipping the build), else build and save it there",
};
var ann = new Command("ann", "HNSW recall@k and single-thread QPS per ef against exact results")
{
    baseFile, queryFile, truthFile, synthetic, annK, annM, efc, efs, threads, metric, filtered, quantization, rerankDir,
    indexCache,
};
ann.SetAction(parse =>
{
    float[][] data, queries;
    if (parse.GetValue(synthetic) is [var n, var q, var d])
    {
        var all = VectorFiles.Synthetic(n + q, d, seed: 42); // queries drawn from the same clusters as the data
        data = all[..n];
        queries = all[n..];
    }
    else
    {
        data = VectorFiles.Read(parse.GetValue(baseFile)
            ?? throw new ArgumentException("--base or --synthetic is required"));
        queries = VectorFiles.Read(parse.GetValue(queryFile) ?? throw new ArgumentException("--queries is required"));
    }
    var distance = parse.GetValue(metric) switch
    {
        "cosine" => Catalogs.VectorIndex.DistanceMetric.Cosine,
        "dot" => Catalogs.VectorIndex.DistanceMetric.DotProduct,
        "l2" => Catalogs.VectorIndex.DistanceMetric.SquaredL2,
        "l1" => Catalogs.VectorIndex.DistanceMetric.L1,
        var other => throw new ArgumentException($"Unknown metric {other}"),
    };
    AnnBenchmark.Run(data, queries, parse.GetValue(truthFile), distance, parse.GetValue(annK), parse.GetValue(annM),
        parse.GetValue(efc),
        parse.GetValue(efs)!.Split(',').Select(int.Parse).ToArray(), parse.GetValue(threads), parse.GetValue(filtered),
        Enum.Parse<Catalogs.VectorIndex.VectorQuantization>(parse.GetValue(quantization)!, ignoreCase: true),
            parse.GetValue(rerankDir), parse.GetValue(indexCache));
    return 0;
});

var embedOut = new Option<string>("--out") { Description = "Folder for base.fvecs and query.fvecs", Required = true };
var embedBase =
    new Option<int>("--base-count") { Description = "Augmented base vectors", DefaultValueFactory = _ => 100_000 };
var embedQueries = new Option<int>("--query-count")
{
    Description = "Augmented query vectors (from the val split)",
    DefaultValueFactory = _ => 1_000,
};
var embed = new Command("embed",
    "Real embeddings of augmented dataset photos (crops, flips, colour jitter) as .fvecs for `ann`")
{
    embedOut, embedBase, embedQueries,
};
embed.SetAction(parse =>
{
    EmbeddingSet.Run(Path.Combine(shared, "models", "mobilenetv2-12-int8.onnx"), Path.Combine(shared, "datasets"),
        parse.GetValue(embedOut)!,
        parse.GetValue(embedBase), parse.GetValue(embedQueries));
    return 0;
});

var kernelDims = new Option<int[]>("--dims")
{
    Description = "Vector lengths",
    DefaultValueFactory = _ => [128, 1280],
    AllowMultipleArgumentsPerToken = true,
};
var headOutputs = new Option<int[]>("--outputs")
{
    Description = "Head output dimensions to compare with the 1280-d backbone",
    DefaultValueFactory = _ => [256, 80, 16],
    AllowMultipleArgumentsPerToken = true,
};
var headPoints = new Option<int>("--points") { Description = "Indexed points", DefaultValueFactory = _ => 50_000 };
var headQueries = new Option<int>("--queries") { Description = "Queries", DefaultValueFactory = _ => 500 };
var heads = new Command("heads", "A tuned head's cost (apply) and what its fewer dimensions save in search")
{
    headOutputs, headPoints, headQueries,
};
heads.SetAction(parse =>
{
    HeadBenchmark.Run(parse.GetValue(headOutputs)!, parse.GetValue(headPoints), parse.GetValue(headQueries));
    return 0;
});

var kernels = new Command("kernels",
    "Distance kernels side by side (TensorPrimitives, Vector512, Vector256, int8 VNNI / AVX-512BW)") { kernelDims };
kernels.SetAction(parse =>
{
    KernelBenchmark.Run(parse.GetValue(kernelDims)!);
    return 0;
});

var storePoints =
    new Option<int>("--points") { Description = "Products in the shard", DefaultValueFactory = _ => 100_000 };
var storeDims = new Option<int>("--dims") { Description = "Vector dimensions", DefaultValueFactory = _ => 1280 };
var storeQuantization =
    new Option<string>("--quantization") { Description = "none or int8", DefaultValueFactory = _ => "int8" };
var store = new Command("store",
    "One shard in each store (local files, PostgreSQL): ingest, snapshot, graph save, primary open, replica load, " +
    "promotion")
{
    storePoints, storeDims, storeQuantization,
};
store.SetAction(async (parse, _) =>
{
    await StoreBenchmark.RunAsync(parse.GetValue(storePoints), parse.GetValue(storeDims),
        parse.GetValue(storeQuantization)!);
    return 0;
});

var clusterUrl = new Option<string>("--url")
{
    Description = "An API host of a cluster started by deploy/local-cluster.sh on this machine",
    DefaultValueFactory = _ => "http://127.0.0.1:5080",
};
var failoverShards =
    new Option<int>("--shards") { Description = "Shards of the catalog", DefaultValueFactory = _ => 1 };
var failover = new Command("failover",
    "kill -9 of the silo of a big shard's primary on a running cluster: writable again, searches meanwhile, promotion")
{
    points, dims, failoverShards, clusterUrl,
};
failover.SetAction(async (parse, _) =>
{
    using var http = new HttpClient
    {
        BaseAddress = new Uri(parse.GetValue(clusterUrl)!),
        Timeout = TimeSpan.FromMinutes(5),
    };
    await FailoverBenchmark.RunAsync(http, parse.GetValue(points), parse.GetValue(dims),
        parse.GetValue(failoverShards));
    return 0;
});

var root = new RootCommand("Catalogs benchmarks")
{
    encoder, upserts, search, ann, embed, kernels, store, heads, failover,
};
return await root.Parse(args).InvokeAsync();

static string FindRepoRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        if (File.Exists(Path.Combine(dir.FullName, "Catalogs.sln"))) return dir.FullName;
    throw new InvalidOperationException("Catalogs.sln not found.");
}
