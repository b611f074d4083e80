using Npgsql;

namespace Catalogs.Shards.Postgres;

/// <summary>A blob being written: bytes go out as rows of <c>chunkSize</c> bytes, in the writer's
/// transaction.</summary>
sealed class ChunkWriter(NpgsqlConnection connection, NpgsqlTransaction transaction, long version, int chunkSize)
    : Stream
{
    readonly byte[] buffer = new byte[chunkSize];
    int filled, chunk;
    long written;

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => written + filled;

    public override long Position
    {
        get => Length;
        set => throw new NotSupportedException();
    }

    public override void Write(byte[] data, int offset, int count) => Write(data.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> data)
    {
        while (data.Length > 0)
        {
            int take = Math.Min(data.Length, buffer.Length - filled);
            data[..take].CopyTo(buffer.AsSpan(filled));
            filled += take;
            data = data[take..];
            if (filled == buffer.Length) Emit();
        }
    }

    /// <summary>Nothing: chunks have one size (readers locate bytes by it), so only <see cref="Complete"/> writes
    /// a partial one.</summary>
    public override void Flush() { }

    /// <summary>Writes the last, partial chunk; the blob is whole.</summary>
    public void Complete()
    {
        if (filled > 0) Emit();
    }

    void Emit()
    {
        using var insert = new NpgsqlCommand(
            "INSERT INTO shard_blob_chunks (version, chunk, data) VALUES (@version, @chunk, @data)", connection,
            transaction);
        insert.Parameters.AddWithValue("version", version);
        insert.Parameters.AddWithValue("chunk", chunk++);
        insert.Parameters.AddWithValue("data", buffer.AsMemory(0, filled));
        insert.ExecuteNonQuery();
        written += filled;
        filled = 0;
    }

    public override int Read(byte[] data, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}

/// <summary>A stored blob, read a chunk at a time as the reader gets there (seekable: snapshots and indexes read
/// their headers and lengths). A blob replaced while it is read fails the read instead of mixing two
/// versions.</summary>
sealed class PostgresBlobStream(NpgsqlDataSource dataSource, long version, long length, int chunkSize) : Stream
{
    byte[]? current;
    int currentChunk = -1;
    long position;

    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => false;
    public override long Length => length;

    public override long Position
    {
        get => position;
        set => position = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value));
    }

    public override int Read(byte[] data, int offset, int count) => Read(data.AsSpan(offset, count));

    public override int Read(Span<byte> data)
    {
        int total = 0;
        while (data.Length > 0 && position < length)
        {
            int chunk = (int)(position / chunkSize), at = (int)(position % chunkSize);
            if (chunk != currentChunk) (current, currentChunk) = (Fetch(chunk), chunk);
            int take = Math.Min(data.Length, current!.Length - at);
            if (take <= 0) throw new IOException($"Blob version {version} chunk {chunk} is shorter than recorded.");
            current.AsSpan(at, take).CopyTo(data);
            data = data[take..];
            position += take;
            total += take;
        }
        return total;
    }

    byte[] Fetch(int chunk)
    {
        using var command = dataSource.CreateCommand(
            "SELECT data FROM shard_blob_chunks WHERE version = @version AND chunk = @chunk");
        command.Parameters.AddWithValue("version", version);
        command.Parameters.AddWithValue("chunk", chunk);
        return command.ExecuteScalar() as byte[]
            ?? throw new IOException("The blob was replaced or deleted while it was being read.");
    }

    public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
    {
        SeekOrigin.Begin => offset,
        SeekOrigin.Current => position + offset,
        _ => length + offset,
    };

    public override void Flush() { }
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] data, int offset, int count) => throw new NotSupportedException();
}
