using Catalogs.Shards.Storage;
using Catalogs.Storage;
using Npgsql;
using NpgsqlTypes;

namespace Catalogs.Shards.Postgres;

/// <summary>
/// The lease holder's view of a shard in PostgreSQL. Appends made while a commit is in flight go together in the
/// next transaction (group commit, in call order); blobs are chunked rows under a version that a blob's head row
/// switches to in the same transaction, so readers see the old blob or the new one, whole.
/// </summary>
sealed class PostgresShardWriter(NpgsqlDataSource dataSource, string shardKey, long epoch, long lastSequence)
    : IShardWriter
{
    const string SnapshotPrefix = "snapshots/";
    const int ChunkSize = 1 << 20, KeepSnapshots = 2;

    readonly Lock gate = new();
    List<(IReadOnlyList<LogRecord> Records, TaskCompletionSource Done)> pending = [];
    bool draining;
    long last = lastSequence;

    public long Epoch => epoch;

    public long LastSequence => Volatile.Read(ref last);

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

    public Task AppendAsync(IReadOnlyList<LogRecord> records)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bool start;
        lock (gate)
        {
            pending.Add((records, done));
            start = !draining;
            draining = true;
        }
        if (start) _ = Task.Run(DrainAsync);
        return done.Task;
    }

    async Task DrainAsync()
    {
        while (true)
        {
            List<(IReadOnlyList<LogRecord> Records, TaskCompletionSource Done)> batch;
            lock (gate)
            {
                if (pending.Count == 0)
                {
                    draining = false;
                    return;
                }
                (batch, pending) = (pending, []);
            }
            var records = batch.SelectMany(b => b.Records).ToArray();
            try
            {
                await FencedAsync(async (connection, transaction) =>
                {
                    await using var insert = new NpgsqlCommand("""
                        INSERT INTO shard_log (shard_key, sequence, kind, payload, epoch)
                        SELECT @key, s, k, p, @epoch FROM unnest(@sequences, @kinds, @payloads) AS t(s, k, p)
                        """, connection, transaction).WithKey(shardKey);
                    insert.Parameters.AddWithValue("epoch", epoch);
                    insert.Parameters.AddWithValue("sequences", records.Select(r => r.Sequence).ToArray());
                    insert.Parameters.AddWithValue("kinds", records.Select(r => (short)r.Kind).ToArray());
                    insert.Parameters.Add(new NpgsqlParameter("payloads", NpgsqlDbType.Array | NpgsqlDbType.Bytea)
                    {
                        Value = records.Select(r => r.Payload.ToArray()).ToArray(),
                    });
                    await insert.ExecuteNonQueryAsync();
                    return 0;
                });
                if (records.Length > 0) Volatile.Write(ref last, records[^1].Sequence);
                foreach (var (_, done) in batch) done.SetResult();
            }
            catch (Exception ex)
            {
                foreach (var (_, done) in batch) done.SetException(ex);
            }
        }
    }

    public Task RollLogAsync() => FencedAsync(async (connection, transaction) =>
    {
        await using var seal = new NpgsqlCommand("""
            INSERT INTO shard_log_seals (shard_key, sealed_through) VALUES (@key, @through)
            ON CONFLICT (shard_key) DO UPDATE SET sealed_through = greatest(shard_log_seals.sealed_through, @through)
            """, connection, transaction).WithKey(shardKey);
        seal.Parameters.AddWithValue("through", LastSequence);
        return await seal.ExecuteNonQueryAsync();
    });

    public Task<int> DeleteLogThroughAsync(long sequence) => FencedAsync(async (connection, transaction) =>
    {
        await using var delete = new NpgsqlCommand("""
            DELETE FROM shard_log WHERE shard_key = @key AND sequence <= least(@through,
                (SELECT coalesce(max(sealed_through), 0) FROM shard_log_seals WHERE shard_key = @key))
            """, connection, transaction).WithKey(shardKey);
        delete.Parameters.AddWithValue("through", sequence);
        return await delete.ExecuteNonQueryAsync();
    });

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

    public async Task WriteSnapshotAsync(long sequence, IEnumerable<ReadOnlyMemory<byte>> entries)
    {
        await WriteBlobAsync($"{SnapshotPrefix}{sequence:D20}", s => SnapshotFile.WriteTo(s, sequence, entries));
        foreach (var old in BlobNames(SnapshotPrefix).OrderDescending(StringComparer.Ordinal).Skip(KeepSnapshots))
            await DeleteBlobAsync(old);
    }

    List<string> BlobNames(string prefix)
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

    /// <summary>The chunks go in as <paramref name="write"/> produces them (a large index is never held whole),
    /// all in the transaction that switches the head, under the lease.</summary>
    public Task WriteBlobAsync(string name, Action<Stream> write) => FencedAsync(async (connection, transaction) =>
    {
        await using var next = new NpgsqlCommand("SELECT nextval('shard_blob_versions')", connection, transaction);
        long version = (long)(await next.ExecuteScalarAsync())!;
        long length;
        await using (var chunks = new ChunkWriter(connection, transaction, version, ChunkSize))
        {
            // The caller's writer is synchronous (an index's Save): it runs on the thread pool.
            await Task.Run(() => write(chunks));
            chunks.Complete();
            length = chunks.Length;
        }
        await using var head = new NpgsqlCommand("""
            WITH old AS (SELECT version FROM shard_blobs WHERE shard_key = @key AND name = @name)
            , gone AS (DELETE FROM shard_blob_chunks WHERE version IN (SELECT version FROM old))
            INSERT INTO shard_blobs (shard_key, name, version, length, chunk_size, epoch)
            VALUES (@key, @name, @version, @length, @chunk, @epoch)
            ON CONFLICT (shard_key, name) DO UPDATE SET version = excluded.version, length = excluded.length,
                chunk_size = excluded.chunk_size, epoch = excluded.epoch, updated_at = now()
            """, connection, transaction).WithKey(shardKey);
        head.Parameters.AddWithValue("name", name);
        head.Parameters.AddWithValue("version", version);
        head.Parameters.AddWithValue("length", length);
        head.Parameters.AddWithValue("chunk", ChunkSize);
        head.Parameters.AddWithValue("epoch", epoch);
        return await head.ExecuteNonQueryAsync();
    });

    public Task DeleteBlobAsync(string name) => FencedAsync(async (connection, transaction) =>
    {
        await using var delete = new NpgsqlCommand("""
            WITH gone AS (DELETE FROM shard_blobs WHERE shard_key = @key AND name = @name RETURNING version)
            DELETE FROM shard_blob_chunks WHERE version IN (SELECT version FROM gone)
            """, connection, transaction).WithKey(shardKey);
        delete.Parameters.AddWithValue("name", name);
        return await delete.ExecuteNonQueryAsync();
    });

    public byte[]? ReadMetadata(string name) => PostgresShardStore.Read(dataSource, shardKey, name);

    public Task WriteMetadataAsync(string name, byte[] content) => FencedAsync(async (connection, transaction) =>
    {
        await using var upsert = new NpgsqlCommand("""
            INSERT INTO shard_metadata (shard_key, name, content, epoch) VALUES (@key, @name, @content, @epoch)
            ON CONFLICT (shard_key, name) DO UPDATE
                SET content = excluded.content, epoch = excluded.epoch, updated_at = now()
            """, connection, transaction).WithKey(shardKey);
        upsert.Parameters.AddWithValue("name", name);
        upsert.Parameters.AddWithValue("content", content);
        upsert.Parameters.AddWithValue("epoch", epoch);
        return await upsert.ExecuteNonQueryAsync();
    });

    public Task DeleteMetadataAsync(string name) => FencedAsync(async (connection, transaction) =>
    {
        await using var delete = new NpgsqlCommand(
            "DELETE FROM shard_metadata WHERE shard_key = @key AND name = @name", connection,
                transaction).WithKey(shardKey);
        delete.Parameters.AddWithValue("name", name);
        return await delete.ExecuteNonQueryAsync();
    });

    /// <summary>Everything but the lease row: epochs must keep growing, or a stale writer of an earlier life of
    /// this key could pass the check again.</summary>
    public Task DestroyAsync() => FencedAsync(async (connection, transaction) =>
    {
        await using var delete = new NpgsqlCommand("""
            DELETE FROM shard_blob_chunks WHERE version IN (SELECT version FROM shard_blobs WHERE shard_key = @key);
            DELETE FROM shard_blobs WHERE shard_key = @key;
            DELETE FROM shard_metadata WHERE shard_key = @key;
            DELETE FROM shard_log WHERE shard_key = @key;
            DELETE FROM shard_log_seals WHERE shard_key = @key;
            """, connection, transaction).WithKey(shardKey);
        int deleted = await delete.ExecuteNonQueryAsync();
        Volatile.Write(ref last, 0);
        return deleted;
    });

    /// <summary>Runs <paramref name="body"/> in a transaction that holds the lease row shared and commits only if
    /// this writer's epoch is still the current one.</summary>
    async Task<T> FencedAsync<T>(Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> body)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await using (var check = new NpgsqlCommand(
            "SELECT epoch FROM shard_leases WHERE shard_key = @key FOR SHARE", connection,
                transaction).WithKey(shardKey))
        {
            long current = await check.ExecuteScalarAsync() is long e ? e : 0;
            if (current != epoch) throw new FencedException(epoch, current);
        }
        var result = await body(connection, transaction);
        await transaction.CommitAsync();
        return result;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
