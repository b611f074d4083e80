using System.Diagnostics;
using Catalogs.Grains;
using Catalogs.Shards;
using Catalogs.Shards.Postgres;
using Catalogs.Shards.Storage;
using Catalogs.Tests;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Catalogs.Bench;

/// <summary>
/// One shard of N products in each shard store, side by side: ingest through the log, a product snapshot, the
/// index graph saved, and the three ways a copy comes up — a primary opening (what failover and moves cost), a read
/// replica loading, and a loaded replica promoted in place. Local files on this disk against a PostgreSQL of its own
/// on loopback (Debian's package, as the tests run it).
/// </summary>
static class StoreBenchmark
{
    public static async Task RunAsync(int points, int dims, string quantization)
    {
        var index = IndexSpec.Default with
        {
            Quantization = quantization == "int8" ? IndexQuantization.Int8 : IndexQuantization.None,
        };
        var settings = new ShardSettings(0, SimilarityMetric.Cosine, dims, index);
        var rng = new Random(7);
        var products = Enumerable.Range(0, points).Select(i => new Datapoint($"p{i}",
            Enumerable.Range(0, dims).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray(),
            [new Restrict("color", [i % 2 == 0 ? "red" : "blue"], [])], [], null, null,
            DateTimeOffset.UnixEpoch)).ToArray();
        Console.WriteLine($"{points:N0} products × {dims} ({quantization}), one shard; {Environment.ProcessorCount} " +
            "cores");
        Console.WriteLine("| store | ingest (products/s) | snapshot write | graph save | primary open | " +
            "replica load | promote | bytes stored |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|");

        var directory = Path.Combine(Path.GetTempPath(), "catalogs-store-bench-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var local = new LocalShardStore(directory);
            await MeasureAsync("local files", local, local, settings, products,
                () => Task.FromResult(new DirectoryInfo(directory).EnumerateFiles("*", SearchOption.AllDirectories)
                    .Sum(f => f.Length)));
        }
        finally
        {
            if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        }

        await using var server = await PostgresServer.StartAsync();
        await using var dataSource = NpgsqlDataSource.Create(server.ConnectionString());
        await PostgresSchema.MigrateAsync(dataSource, default);
        var provider = new PostgresShardStoreProvider(dataSource);
        await MeasureAsync("PostgreSQL", provider.For("bench/a/1/0"), provider.For("bench/a/1/0"), settings, products,
            async () =>
            {
                await using var command = dataSource.CreateCommand("SELECT pg_database_size(current_database())");
                return (long)(await command.ExecuteScalarAsync())!;
            });
    }

    static async Task MeasureAsync(string name, IShardStore store, IShardStore again, ShardSettings settings,
        Datapoint[] products, Func<Task<long>> storedBytes)
    {
        // No snapshot or graph save on its own: each is measured below.
        var options = new LocalShardOptions(int.MaxValue, TimeSpan.MaxValue, Name: "bench");
        var clock = Stopwatch.StartNew();
        var primary = await LocalShard.OpenAsync(store, settings, options, NullLogger.Instance, default);
        foreach (var batch in products.Chunk(1_000)) await primary.UpsertAsync(batch);
        double ingest = products.Length / clock.Elapsed.TotalSeconds;

        clock.Restart();
        await primary.SnapshotAsync();
        var snapshot = clock.Elapsed;
        clock.Restart();
        await primary.SaveIndexAsync();
        var graph = clock.Elapsed;
        await primary.DisposeAsync();

        clock.Restart();
        var reopened = await LocalShard.OpenAsync(again, null, options, NullLogger.Instance, default);
        var open = clock.Elapsed;
        if (reopened.Count != products.Length) throw new InvalidOperationException("products lost");
        await reopened.UpsertAsync(products[..1_000]); // what a replica has to catch up with when promoted
        clock.Restart();
        var replica = await LocalShard.OpenReplicaAsync(again, options, NullLogger.Instance, default);
        var load = clock.Elapsed;
        await reopened.DisposeAsync();
        clock.Restart();
        if (!await replica.PromoteAsync(again, default)) throw new InvalidOperationException("not promoted");
        var promote = clock.Elapsed;
        await replica.DisposeAsync();
        Console.WriteLine($"| {name} | {ingest:N0} | {snapshot.TotalSeconds:F2} s | {graph.TotalSeconds:F2} s | " +
            $"{open.TotalSeconds:F2} s | {load.TotalSeconds:F2} s | {promote.TotalMilliseconds:F0} ms | " +
            $"{await storedBytes() / 1048576.0:N0} MiB |");
    }
}
