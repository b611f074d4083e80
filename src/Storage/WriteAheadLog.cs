using System.Buffers.Binary;
using System.Globalization;
using System.IO.Hashing;
using System.Threading.Channels;

namespace Catalogs.Storage;

/// <summary>
/// An append-only, segmented write-ahead log with group commit: appends that arrive while a flush is running are
/// written together and made durable by one fsync, so many concurrent writers pay for few syncs.
/// An append's task completes only after its bytes are on disk.
/// </summary>
/// <remarks>
/// Record layout: <c>[u32 body length][u32 CRC-32 of body][body: i64 sequence, u8 kind, payload]</c>, little-endian.
/// Segments are named <c>wal-{first sequence}.log</c>. A record cut short or failing its checksum at the end of the
/// newest segment is a torn write that was never acknowledged: <see cref="Open"/> truncates it. Anywhere else it is
/// corruption and opening fails.
/// </remarks>
public sealed class WriteAheadLog : IAsyncDisposable
{
    const string Prefix = "wal-", Suffix = ".log";
    const int HeaderSize = 8, BodyHeaderSize = 9;
    const int MaxRecordSize = 256 * 1024 * 1024;

    readonly string directory;
    readonly IWriteFence? fence;
    readonly Channel<Command> commands = Channel.CreateUnbounded<Command>(new() { SingleReader = true });
    readonly Task writer;
    FileStream active;
    long activeFirstSequence;
    Exception? failure;

    public long LastSequence { get; private set; }

    WriteAheadLog(string directory, long lastSequence, IWriteFence? fence)
    {
        this.directory = directory;
        this.fence = fence;
        LastSequence = lastSequence;
        var segments = ListSegments(directory);
        if (segments.Count == 0)
        {
            activeFirstSequence = lastSequence + 1;
            active = CreateSegment(activeFirstSequence);
        }
        else
        {
            activeFirstSequence = segments[^1].First;
            active = new FileStream(segments[^1].Path, FileMode.Open, FileAccess.Write, FileShare.Read, 1 << 16);
            active.Seek(0, SeekOrigin.End);
        }
        writer = Task.Factory.StartNew(WriteLoop, CancellationToken.None, TaskCreationOptions.LongRunning,
            TaskScheduler.Default).Unwrap();
    }

    /// <summary>Opens (creating when absent) the log in <paramref name="directory"/>, repairing a torn tail. With a
    /// <paramref name="fence"/>, every batch, roll and deletion is written only while the fence admits it; open the log
    /// after taking the lease, so that the repair never races a former writer.</summary>
    public static WriteAheadLog Open(string directory, IWriteFence? fence = null)
    {
        Directory.CreateDirectory(directory);
        var segments = ListSegments(directory);
        long last = 0;
        for (int i = 0; i < segments.Count; i++)
        {
            bool newest = i == segments.Count - 1;
            var (validLength, lastInSegment) = Scan(segments[i].Path, newest);
            if (lastInSegment > 0) last = lastInSegment;
            else if (last == 0) last = segments[i].First - 1;
            if (newest && validLength < new FileInfo(segments[i].Path).Length)
            {
                using var fs = new FileStream(segments[i].Path, FileMode.Open, FileAccess.Write);
                fs.SetLength(validLength);
                fs.Flush(flushToDisk: true);
            }
        }
        return new WriteAheadLog(directory, last, fence);
    }

    /// <summary>Every record with a sequence above <paramref name="afterSequence"/>, in log order.</summary>
    public IEnumerable<LogRecord> ReadFrom(long afterSequence) => Read(directory, afterSequence);

    /// <summary>The last sequence before the oldest segment kept in <paramref name="directory"/> (deleted, or never
    /// there); 0 when there is no segment.</summary>
    public static long Floor(string directory) =>
        Directory.Exists(directory) && ListSegments(directory) is { Count: > 0 } segments ? segments[0].First - 1 : 0;

    /// <summary>The records above <paramref name="afterSequence"/> of the log in <paramref name="directory"/>, read
    /// without opening it (beside its writer, maybe in another process): a record being appended reads as not yet
    /// there.</summary>
    public static IEnumerable<LogRecord> Read(string directory, long afterSequence)
    {
        if (!Directory.Exists(directory)) yield break;
        var segments = ListSegments(directory);
        for (int i = 0; i < segments.Count; i++)
        {
            // A segment whose successor starts at or below the wanted sequence holds nothing we need.
            if (i + 1 < segments.Count && segments[i + 1].First <= afterSequence + 1) continue;
            foreach (var record in ReadSegment(segments[i].Path, tolerateTornTail: i == segments.Count - 1))
                if (record.Sequence > afterSequence) yield return record;
        }
    }

    /// <summary>Appends records (sequences must grow) and completes once they are durable.</summary>
    public Task AppendAsync(IReadOnlyList<LogRecord> records)
    {
        if (failure is not null)
            return Task.FromException(new IOException("The log failed earlier and takes no more writes.", failure));
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!commands.Writer.TryWrite(new Command(records, done, Roll: false)))
            done.SetException(new ObjectDisposedException(nameof(WriteAheadLog)));
        return done.Task;
    }

    public Task AppendAsync(LogRecord record) => AppendAsync([record]);

    /// <summary>Seals the current segment; later appends go to a new one. Call before a snapshot so that the
    /// segments it covers can be deleted afterwards.</summary>
    public Task RollAsync()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!commands.Writer.TryWrite(new Command([], done, Roll: true)))
            done.SetException(new ObjectDisposedException(nameof(WriteAheadLog)));
        return done.Task;
    }

    /// <summary>Deletes sealed segments whose records all have sequences ≤ <paramref name="sequence"/>.</summary>
    public int DeleteSegmentsThrough(long sequence)
    {
        using var admitted = fence?.Enter();
        var segments = ListSegments(directory);
        int deleted = 0;
        for (int i = 0; i + 1 < segments.Count; i++)
        {
            if (segments[i].First == activeFirstSequence) break;
            if (segments[i + 1].First - 1 > sequence) break;
            File.Delete(segments[i].Path);
            deleted++;
        }
        if (deleted > 0) FileDurability.FlushDirectory(directory);
        return deleted;
    }

    async Task WriteLoop()
    {
        var batch = new List<Command>();
        var buffer = new byte[64 * 1024];
        while (await commands.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            while (batch.Count < 4096 && commands.Reader.TryRead(out var command)) batch.Add(command);
            try
            {
                if (failure is not null)
                    throw new IOException("The log failed earlier and takes no more writes.", failure);
                // Held from the first byte to the fsync: a new writer taking the lease waits for this batch.
                using var admitted = fence?.Enter();
                foreach (var command in batch)
                {
                    if (command.Roll)
                    {
                        active.Flush(flushToDisk: true);
                        await active.DisposeAsync().ConfigureAwait(false);
                        activeFirstSequence = LastSequence + 1;
                        active = CreateSegment(activeFirstSequence);
                        continue;
                    }
                    foreach (var record in command.Records)
                    {
                        if (record.Sequence <= LastSequence)
                            throw new InvalidOperationException($"Sequence {record.Sequence} does not follow " +
                                $"{LastSequence}.");
                        int size = HeaderSize + BodyHeaderSize + record.Payload.Length;
                        if (buffer.Length < size) buffer = new byte[Math.Max(size, buffer.Length * 2)];
                        Encode(record, buffer);
                        active.Write(buffer, 0, size);
                        LastSequence = record.Sequence;
                    }
                }
                active.Flush(flushToDisk: true); // the group commit: one fsync for the whole batch
                foreach (var command in batch) command.Done.TrySetResult();
            }
            catch (Exception ex)
            {
                failure ??= ex; // the file's state is unknown now: refuse further writes, the owner reopens and replays
                foreach (var command in batch) command.Done.TrySetException(ex);
            }
        }
    }

    static void Encode(LogRecord record, byte[] buffer)
    {
        var body = buffer.AsSpan(HeaderSize, BodyHeaderSize + record.Payload.Length);
        BinaryPrimitives.WriteInt64LittleEndian(body, record.Sequence);
        body[8] = record.Kind;
        record.Payload.Span.CopyTo(body[BodyHeaderSize..]);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer, (uint)body.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(4), Crc32.HashToUInt32(body));
    }

    static IEnumerable<LogRecord> ReadSegment(string path, bool tolerateTornTail)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16);
        var header = new byte[HeaderSize];
        while (true)
        {
            long offset = stream.Position;
            int got = stream.ReadAtLeast(header, HeaderSize, throwOnEndOfStream: false);
            if (got == 0) yield break;
            var record = got < HeaderSize ? null : TryReadBody(stream, header);
            if (record is null)
            {
                if (tolerateTornTail) yield break;
                throw new StorageCorruptException($"Log segment '{Path.GetFileName(path)}' is corrupt at byte " +
                    $"{offset}.");
            }
            yield return record.Value;
        }
    }

    static LogRecord? TryReadBody(Stream stream, byte[] header)
    {
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(header);
        uint crc = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(4));
        if (length < BodyHeaderSize || length > MaxRecordSize) return null;
        var body = new byte[length];
        if (stream.ReadAtLeast(body, body.Length, throwOnEndOfStream: false) < body.Length) return null;
        if (Crc32.HashToUInt32(body) != crc) return null;
        return new LogRecord(BinaryPrimitives.ReadInt64LittleEndian(body), body[8], body.AsMemory(BodyHeaderSize));
    }

    /// <summary>Validates a segment: the length of its valid prefix and its last sequence (0 when empty).</summary>
    static (long ValidLength, long LastSequence) Scan(string path, bool newest)
    {
        long last = 0, valid = 0;
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16);
        var header = new byte[HeaderSize];
        while (true)
        {
            int got = stream.ReadAtLeast(header, HeaderSize, throwOnEndOfStream: false);
            if (got == 0) break;
            var record = got < HeaderSize ? null : TryReadBody(stream, header);
            if (record is null)
            {
                if (newest) break;
                throw new StorageCorruptException($"Log segment '{Path.GetFileName(path)}' is corrupt at byte " +
                    $"{valid}.");
            }
            last = record.Value.Sequence;
            valid = stream.Position;
        }
        return (valid, last);
    }

    FileStream CreateSegment(long firstSequence)
    {
        var path = NumberedFiles.Name(directory, Prefix, firstSequence, Suffix);
        var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read, 1 << 16);
        FileDurability.FlushDirectory(directory);
        return stream;
    }

    static List<(long First, string Path)> ListSegments(string directory) => NumberedFiles.List(directory, Prefix,
        Suffix);

    public async ValueTask DisposeAsync()
    {
        commands.Writer.TryComplete();
        await writer.ConfigureAwait(false);
        await active.DisposeAsync().ConfigureAwait(false);
    }

    sealed record Command(IReadOnlyList<LogRecord> Records, TaskCompletionSource Done, bool Roll);
}
