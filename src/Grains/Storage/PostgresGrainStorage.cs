using System.Text.Json;
using Npgsql;
using Orleans.Runtime;
using Orleans.Storage;

namespace Catalogs.Grains.Storage;

/// <summary>
/// Grain state (catalog configs, tenant catalog lists) as JSON rows in PostgreSQL, for the cluster: every silo sees
/// the same state. Writes are conditional on the version read (the ETag), so two activations of one grain that
/// Orleans briefly allows cannot overwrite each other unseen: the later one gets
/// <see cref="InconsistentStateException"/>.
/// </summary>
public sealed class PostgresGrainStorage(NpgsqlDataSource dataSource) : IGrainStorage
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        await using var read = dataSource.CreateCommand(
            "SELECT etag, state FROM grain_state WHERE state_name = @name AND grain_id = @id");
        read.Parameters.AddWithValue("name", stateName);
        read.Parameters.AddWithValue("id", grainId.ToString());
        await using var reader = await read.ExecuteReaderAsync();
        if (!await reader.ReadAsync())
        {
            grainState.Empty();
            return;
        }
        grainState.ETag = reader.GetInt64(0).ToString();
        grainState.State = JsonSerializer.Deserialize<T>(reader.GetFieldValue<byte[]>(1), Json)
            ?? Activator.CreateInstance<T>();
        grainState.RecordExists = true;
    }

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        long expected = grainState.ETag is { } etag ? long.Parse(etag) : 0;
        await using var write = dataSource.CreateCommand("""
            INSERT INTO grain_state (state_name, grain_id, etag, state) VALUES (@name, @id, 1, @state)
            ON CONFLICT (state_name, grain_id) DO UPDATE
                SET etag = grain_state.etag + 1, state = excluded.state, updated_at = now()
                WHERE grain_state.etag = @expected
            RETURNING etag
            """);
        write.Parameters.AddWithValue("name", stateName);
        write.Parameters.AddWithValue("id", grainId.ToString());
        write.Parameters.AddWithValue("state", JsonSerializer.SerializeToUtf8Bytes(grainState.State, Json));
        write.Parameters.AddWithValue("expected", expected);
        // A fresh insert over an existing row (expected 0) or a stale version updates nothing and returns no row.
        var written = await write.ExecuteScalarAsync() as long?
            ?? throw new InconsistentStateException($"The state of {grainId} changed since it was read " +
                $"(version {expected}).", grainState.ETag, "unknown");
        grainState.ETag = written.ToString();
        grainState.RecordExists = true;
    }

    public async Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        await using var delete = dataSource.CreateCommand(
            "DELETE FROM grain_state WHERE state_name = @name AND grain_id = @id");
        delete.Parameters.AddWithValue("name", stateName);
        delete.Parameters.AddWithValue("id", grainId.ToString());
        await delete.ExecuteNonQueryAsync();
        grainState.Empty();
    }
}
