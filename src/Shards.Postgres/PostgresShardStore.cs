using Catalogs.Shards.Storage;
using Npgsql;

namespace Catalogs.Shards.Postgres;

/// <summary>
/// One shard's store in PostgreSQL (schema: <see cref="PostgresSchema"/>). The lease is a row whose epoch every
/// writer raises by one; every mutation runs in a transaction that first takes that row <c>FOR SHARE</c> and
/// checks the epoch, so a takeover waits for writes in flight and every later write of the old writer is refused.
/// </summary>
public sealed class PostgresShardStore(NpgsqlDataSource dataSource, string shardKey) : IShardStore
{
    public string ShardKey { get; } = shardKey;

    public byte[]? ReadMetadata(string name) => Read(dataSource, ShardKey, name);

    public async Task<IShardWriter> OpenWriterAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var take = new NpgsqlCommand("""
            INSERT INTO shard_leases (shard_key, epoch) VALUES (@key, 1)
            ON CONFLICT (shard_key) DO UPDATE SET epoch = shard_leases.epoch + 1, taken_at = now()
            RETURNING epoch
            """, connection).WithKey(ShardKey);
        long epoch = (long)(await take.ExecuteScalarAsync(cancellationToken))!;
        // Sealed records may all be deleted after a snapshot: the seal remembers how far the log reached.
        await using var last = new NpgsqlCommand("""
            SELECT greatest(
                (SELECT coalesce(max(sequence), 0) FROM shard_log WHERE shard_key = @key),
                (SELECT coalesce(max(sealed_through), 0) FROM shard_log_seals WHERE shard_key = @key))
            """, connection).WithKey(ShardKey);
        long lastSequence = (long)(await last.ExecuteScalarAsync(cancellationToken))!;
        return new PostgresShardWriter(dataSource, ShardKey, epoch, lastSequence);
    }

    public IShardReader OpenReader() => new PostgresShardReader(dataSource, ShardKey);

    internal static byte[]? Read(NpgsqlDataSource dataSource, string shardKey, string name)
    {
        using var command = dataSource.CreateCommand(
            "SELECT content FROM shard_metadata WHERE shard_key = @key AND name = @name").WithKey(shardKey);
        command.Parameters.AddWithValue("name", name);
        return command.ExecuteScalar() as byte[];
    }
}

/// <summary>Stores by shard key in one PostgreSQL database.</summary>
public sealed class PostgresShardStoreProvider(NpgsqlDataSource dataSource) : IShardStoreProvider
{
    public IShardStore For(string shardKey) => new PostgresShardStore(dataSource, shardKey);

    public async IAsyncEnumerable<string> ShardsWithMetadataAsync(string name,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            "SELECT shard_key FROM shard_metadata WHERE name = @name ORDER BY shard_key");
        command.Parameters.AddWithValue("name", name);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) yield return reader.GetString(0);
    }
}

static class KeyedCommands
{
    /// <summary>Gives the command the shard's key as <c>@key</c>: every statement of a shard store names it.</summary>
    public static NpgsqlCommand WithKey(this NpgsqlCommand command, string shardKey)
    {
        command.Parameters.AddWithValue("key", shardKey);
        return command;
    }
}
