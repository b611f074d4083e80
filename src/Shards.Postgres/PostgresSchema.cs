using Npgsql;

namespace Catalogs.Shards.Postgres;

/// <summary>
/// The project's own PostgreSQL schema, as numbered migrations applied in order at start-up, each once, in one
/// transaction under an advisory lock so that processes starting together do not race. A database already at a
/// newer version than this build knows is refused rather than written to.
/// </summary>
public static class PostgresSchema
{
    // Arbitrary, fixed: the advisory lock key every Catalogs process migrates under.
    const long MigrationLock = 0x43_41_54_41_4C_4F_47;

    /// <summary>Every migration, in order; a released one is never edited, only followed by another.</summary>
    public static readonly IReadOnlyList<(int Version, string Name, string Sql)> Migrations =
    [
        (1, "shard store", """
            CREATE TABLE shard_leases (
                shard_key text PRIMARY KEY,
                epoch bigint NOT NULL,
                taken_at timestamptz NOT NULL DEFAULT now());
            CREATE TABLE shard_log (
                shard_key text NOT NULL,
                sequence bigint NOT NULL,
                kind smallint NOT NULL,
                payload bytea NOT NULL,
                epoch bigint NOT NULL,
                PRIMARY KEY (shard_key, sequence));
            CREATE TABLE shard_log_seals (
                shard_key text PRIMARY KEY,
                sealed_through bigint NOT NULL);
            CREATE TABLE shard_metadata (
                shard_key text NOT NULL,
                name text NOT NULL,
                content bytea NOT NULL,
                epoch bigint NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (shard_key, name));
            CREATE SEQUENCE shard_blob_versions;
            CREATE TABLE shard_blobs (
                shard_key text NOT NULL,
                name text NOT NULL,
                version bigint NOT NULL,
                length bigint NOT NULL,
                chunk_size integer NOT NULL,
                epoch bigint NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (shard_key, name));
            CREATE TABLE shard_blob_chunks (
                version bigint NOT NULL,
                chunk integer NOT NULL,
                data bytea NOT NULL,
                PRIMARY KEY (version, chunk));
            """),
        (2, "grain state", """
            CREATE TABLE grain_state (
                state_name text NOT NULL,
                grain_id text NOT NULL,
                etag bigint NOT NULL,
                state bytea NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (state_name, grain_id));
            """),
    ];

    public static int LatestVersion => Migrations[^1].Version;

    /// <summary>Brings the database to <see cref="LatestVersion"/>; returns the migrations applied now.</summary>
    public static async Task<int> MigrateAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using (var create = new NpgsqlCommand("""
            CREATE TABLE IF NOT EXISTS catalogs_schema (
                version integer PRIMARY KEY,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now())
            """, connection))
            await create.ExecuteNonQueryAsync(cancellationToken);
        int applied = 0;
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var lockCommand = new NpgsqlCommand("SELECT pg_advisory_xact_lock(@key)", connection, transaction))
        {
            lockCommand.Parameters.AddWithValue("key", MigrationLock);
            await lockCommand.ExecuteNonQueryAsync(cancellationToken);
        }
        int current;
        await using (var read = new NpgsqlCommand("SELECT coalesce(max(version), 0) FROM catalogs_schema", connection,
            transaction))
            current = Convert.ToInt32(await read.ExecuteScalarAsync(cancellationToken));
        if (current > LatestVersion)
            throw new InvalidOperationException($"The database schema is at version {current}, newer than this " +
                $"build's {LatestVersion}: run a newer build.");
        foreach (var (version, name, sql) in Migrations.Where(m => m.Version > current))
        {
            await using (var migrate = new NpgsqlCommand(sql, connection, transaction))
                await migrate.ExecuteNonQueryAsync(cancellationToken);
            await using var record = new NpgsqlCommand(
                "INSERT INTO catalogs_schema (version, name) VALUES (@version, @name)", connection, transaction);
            record.Parameters.AddWithValue("version", version);
            record.Parameters.AddWithValue("name", name);
            await record.ExecuteNonQueryAsync(cancellationToken);
            applied++;
        }
        await transaction.CommitAsync(cancellationToken);
        return applied;
    }
}
