using Catalogs.Shards.Postgres;
using Catalogs.Shards.Storage;
using Catalogs.Tests;
using Npgsql;

namespace Catalogs.Shards.Tests;

/// <summary>A real PostgreSQL server for the tests of one class, with the project's schema migrated.</summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    PostgresServer? server;

    public PostgresServer Server => server!;

    public NpgsqlDataSource DataSource { get; private set; } = null!;

    public int AppliedMigrations { get; private set; }

    public async Task InitializeAsync()
    {
        server = await PostgresServer.StartAsync();
        DataSource = NpgsqlDataSource.Create(server.ConnectionString());
        AppliedMigrations = await PostgresSchema.MigrateAsync(DataSource, default);
    }

    public async Task DisposeAsync()
    {
        await DataSource.DisposeAsync();
        if (server is not null) await server.DisposeAsync();
    }
}

/// <summary>The store contract, on PostgreSQL: the same tests the local files pass.</summary>
public sealed class PostgresShardStoreContractTests(PostgresFixture postgres)
    : ShardStoreContract, IClassFixture<PostgresFixture>
{
    protected override IShardStore NewStore() =>
        new PostgresShardStore(postgres.DataSource, $"tenant/catalog/{Guid.NewGuid():N}/0");

    // Another process opens the same shard through its own connection pool.
    protected override IShardStore Reopen(IShardStore store) => new PostgresShardStore(
        NpgsqlDataSource.Create(postgres.Server.ConnectionString()), ((PostgresShardStore)store).ShardKey);
}

/// <summary>What only the PostgreSQL store has: schema migrations, blobs in chunks.</summary>
public sealed class PostgresShardTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    [Fact]
    public async Task Migrations_apply_once_and_again_change_nothing()
    {
        Assert.Equal(PostgresSchema.Migrations.Count, postgres.AppliedMigrations);
        Assert.Equal(0, await PostgresSchema.MigrateAsync(postgres.DataSource, default));
        // Processes starting together: the advisory lock lets one migrate and the others find it done.
        var together = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ =>
            PostgresSchema.MigrateAsync(NpgsqlDataSource.Create(postgres.Server.ConnectionString()), default)));
        Assert.All(together, applied => Assert.Equal(0, applied));
        await using var command = postgres.DataSource.CreateCommand("SELECT max(version) FROM catalogs_schema");
        Assert.Equal(PostgresSchema.LatestVersion, (int)(await command.ExecuteScalarAsync())!);
    }

    [Fact]
    public async Task Blobs_larger_than_a_chunk_read_back_whole_and_seek()
    {
        var store = new PostgresShardStore(postgres.DataSource, $"t/c/{Guid.NewGuid():N}/0");
        await using var writer = await store.OpenWriterAsync(default);
        var bytes = new byte[(1 << 20) * 3 + 12345];
        new Random(5).NextBytes(bytes);
        await writer.WriteBlobAsync("index.hnsw", s =>
        {
            for (int at = 0; at < bytes.Length; at += 70_000)
            {
                s.Write(bytes, at, Math.Min(70_000, bytes.Length - at));
                s.Flush(); // as writers do mid-stream: chunks must keep their one size
            }
        });
        using var blob = writer.OpenBlob("index.hnsw")!;
        Assert.Equal(bytes.Length, blob.Length);
        var read = new MemoryStream();
        blob.CopyTo(read);
        Assert.Equal(bytes, read.ToArray());
        blob.Position = (1 << 20) + 7;
        var part = new byte[10];
        blob.ReadExactly(part);
        Assert.Equal(bytes.AsSpan((1 << 20) + 7, 10).ToArray(), part);
    }
}
