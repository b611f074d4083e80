using Catalogs.Shards.Storage;
using Catalogs.Storage;
using Npgsql;

namespace Catalogs.Shards.Postgres;

/// <summary>Reads a shard in PostgreSQL without its lease: each statement sees committed rows only, so a log record
/// is there whole or not yet, and a blob is the version its head row names.</summary>
class PostgresShardReader(NpgsqlDataSource dataSource, string shardKey) : IShardReader
{
    protected const string SnapshotPrefix = "snapshots/";

    protected NpgsqlDataSource DataSource => dataSource;

    protected string ShardKey => shardKey;

    public IEnumerable<LogRecord> ReadLog(long afterSequence)
    {
        using var connection = dataSource.OpenConnection();
        using var command = new NpgsqlCommand("""
            SELECT sequence, kind, payload FROM shard_log
            WHERE shard_key = @key AND sequence > @after ORDER BY sequence
            """, connection).WithKey(shardKey);
        command.Parameters.AddWithValue("after", afterSequence);
        using var reader = command.ExecuteReader();
        while (reader.Read())
            yield return new LogRecord(reader.GetInt64(0), (byte)reader.GetInt16(1), reader.GetFieldValue<byte[]>(2));
    }

    public long LogFloor()
    {
        // Rows left: the one before the oldest. None: all deleted through the last seal.
        using var command = dataSource.CreateCommand("""
            SELECT coalesce((SELECT min(sequence) - 1 FROM shard_log WHERE shard_key = @key),
                (SELECT coalesce(max(sealed_through), 0) FROM shard_log_seals WHERE shard_key = @key))
            """).WithKey(shardKey);
        return (long)command.ExecuteScalar()!;
    }

    public Snapshot? ReadLatestSnapshot(Action<string> onSkipped)
    {
        StorageCorruptException? lastError = null;
        foreach (var name in BlobNames(SnapshotPrefix).OrderDescending(StringComparer.Ordinal))
        {
            try
            {
                using var stream = OpenBlob(name);
                if (stream is not null) return SnapshotFile.ReadFrom(stream, name);
            }
            catch (StorageCorruptException ex)
            {
                lastError = ex;
                onSkipped(ex.Message);
            }
        }
        // Every snapshot damaged: starting empty would silently lose the products.
        return lastError is null ? null : throw lastError;
    }

    protected List<string> BlobNames(string prefix)
    {
        using var command = dataSource.CreateCommand(
            "SELECT name FROM shard_blobs WHERE shard_key = @key AND starts_with(name, @prefix)").WithKey(shardKey);
        command.Parameters.AddWithValue("prefix", prefix);
        using var reader = command.ExecuteReader();
        var names = new List<string>();
        while (reader.Read()) names.Add(reader.GetString(0));
        return names;
    }

    public Stream? OpenBlob(string name)
    {
        using var command = dataSource.CreateCommand(
            "SELECT version, length, chunk_size FROM shard_blobs WHERE shard_key = @key AND name = @name")
                .WithKey(shardKey);
        command.Parameters.AddWithValue("name", name);
        using var reader = command.ExecuteReader();
        return reader.Read()
            ? new PostgresBlobStream(dataSource, reader.GetInt64(0), reader.GetInt64(1), reader.GetInt32(2))
            : null;
    }

    public byte[]? ReadMetadata(string name) => PostgresShardStore.Read(dataSource, shardKey, name);
}
