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
    : PostgresShardReader(dataSource, shardKey), IShardWriter
{
    const int ChunkSize = 1 << 20, KeepSnapshots = 2;

    readonly Lock gate = new();
    List<(IReadOnlyList<LogRecord> Records, TaskCompletionSource Done)> pending = [];
    bool draining;
    long last = lastSequence;

    public long Epoch => epoch;

    public long LastSequence => Volatile.Read(ref last);

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
                        """, connection, transaction).WithKey(ShardKey);
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
            """, connection, transaction).WithKey(ShardKey);
        seal.Parameters.AddWithValue("through", LastSequence);
        return await seal.ExecuteNonQueryAsync();
    });

    public Task<int> DeleteLogThroughAsync(long sequence) => FencedAsync(async (connection, transaction) =>
    {
        await using var delete = new NpgsqlCommand("""
            DELETE FROM shard_log WHERE shard_key = @key AND sequence <= least(@through,
                (SELECT coalesce(max(sealed_through), 0) FROM shard_log_seals WHERE shard_key = @key))
            """, connection, transaction).WithKey(ShardKey);
        delete.Parameters.AddWithValue("through", sequence);
        return await delete.ExecuteNonQueryAsync();
    });

    public async Task WriteSnapshotAsync(long sequence, IEnumerable<ReadOnlyMemory<byte>> entries)
    {
        await WriteBlobAsync($"{SnapshotPrefix}{sequence:D20}", s => SnapshotFile.WriteTo(s, sequence, entries));
        foreach (var old in BlobNames(SnapshotPrefix).OrderDescending(StringComparer.Ordinal).Skip(KeepSnapshots))
            await DeleteBlobAsync(old);
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
            """, connection, transaction).WithKey(ShardKey);
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
            """, connection, transaction).WithKey(ShardKey);
        delete.Parameters.AddWithValue("name", name);
        return await delete.ExecuteNonQueryAsync();
    });

    public Task WriteMetadataAsync(string name, byte[] content) => FencedAsync(async (connection, transaction) =>
    {
        await using var upsert = new NpgsqlCommand("""
            INSERT INTO shard_metadata (shard_key, name, content, epoch) VALUES (@key, @name, @content, @epoch)
            ON CONFLICT (shard_key, name) DO UPDATE
                SET content = excluded.content, epoch = excluded.epoch, updated_at = now()
            """, connection, transaction).WithKey(ShardKey);
        upsert.Parameters.AddWithValue("name", name);
        upsert.Parameters.AddWithValue("content", content);
        upsert.Parameters.AddWithValue("epoch", epoch);
        return await upsert.ExecuteNonQueryAsync();
    });

    public Task DeleteMetadataAsync(string name) => FencedAsync(async (connection, transaction) =>
    {
        await using var delete = new NpgsqlCommand(
            "DELETE FROM shard_metadata WHERE shard_key = @key AND name = @name", connection,
                transaction).WithKey(ShardKey);
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
            """, connection, transaction).WithKey(ShardKey);
        int deleted = await delete.ExecuteNonQueryAsync();
        Volatile.Write(ref last, 0);
        return deleted;
    });

    /// <summary>Runs <paramref name="body"/> in a transaction that holds the lease row shared and commits only if
    /// this writer's epoch is still the current one.</summary>
    async Task<T> FencedAsync<T>(Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> body)
    {
        await using var connection = await DataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await using (var check = new NpgsqlCommand(
            "SELECT epoch FROM shard_leases WHERE shard_key = @key FOR SHARE", connection,
                transaction).WithKey(ShardKey))
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
