using Catalogs.Storage;

namespace Catalogs.Shards.Storage;

/// <summary>
/// Where one shard keeps its state: a log of changes, product snapshots, blobs (the saved index graph) and small
/// metadata documents (settings, sync cursor, export mark). Reading needs nothing; writing needs the shard's lease,
/// taken by <see cref="OpenWriterAsync"/>: one writer at a time, and a writer whose lease was taken over has every
/// later write refused (<see cref="FencedException"/>). Every implementation passes the same contract tests.
/// </summary>
public interface IShardStore
{
    /// <summary>A metadata document, or null when there is none.</summary>
    byte[]? ReadMetadata(string name);

    /// <summary>Takes the shard's lease (an epoch higher than any before) and opens its log for appending.</summary>
    Task<IShardWriter> OpenWriterAsync(CancellationToken cancellationToken);

    /// <summary>A view that reads what the lease holder writes, without a lease (a read replica's).</summary>
    IShardReader OpenReader();
}

/// <summary>Reading a shard's store. A reader may run beside the writer (in another process): it sees each log
/// record whole or not yet, and a snapshot or blob as it was before a write or after it.</summary>
public interface IShardReader
{
    /// <summary>Every log record above <paramref name="afterSequence"/>, in order. Records a snapshot covers may be
    /// gone: a reader that finds a gap after its position reads the latest snapshot again.</summary>
    IEnumerable<LogRecord> ReadLog(long afterSequence);

    /// <summary>The last sequence deleted from the log (a snapshot holds it); 0 when none was.</summary>
    long LogFloor();

    /// <summary>The newest readable product snapshot; damaged ones are reported and skipped.</summary>
    Snapshot? ReadLatestSnapshot(Action<string> onSkipped);

    /// <summary>A blob to read, or null when there is none.</summary>
    Stream? OpenBlob(string name);

    byte[]? ReadMetadata(string name);
}

/// <summary>The lease holder's view of a shard's store. Every mutation is fenced by <see cref="Epoch"/>.</summary>
public interface IShardWriter : IShardReader, IAsyncDisposable
{
    long Epoch { get; }

    /// <summary>The last sequence in the log (0 when empty).</summary>
    long LastSequence { get; }

    /// <summary>Appends records (sequences must grow); completes once they are durable.</summary>
    Task AppendAsync(IReadOnlyList<LogRecord> records);

    /// <summary>Seals the log's current segment, so that what a following snapshot covers can be deleted.</summary>
    Task RollLogAsync();

    /// <summary>Deletes sealed log segments holding only sequences ≤ <paramref name="sequence"/>.</summary>
    Task<int> DeleteLogThroughAsync(long sequence);

    Task WriteSnapshotAsync(long sequence, IEnumerable<ReadOnlyMemory<byte>> entries);

    /// <summary>Writes a blob durably and atomically: readers see the old one or the new one, whole. Names may hold
    /// '/' (folders).</summary>
    Task WriteBlobAsync(string name, Action<Stream> write);

    Task DeleteBlobAsync(string name);

    Task WriteMetadataAsync(string name, byte[] content);

    Task DeleteMetadataAsync(string name);

    /// <summary>Deletes the shard's state, all of it.</summary>
    Task DestroyAsync();
}

/// <summary>Stores by shard key (<c>tenant/catalog/incarnation/shard</c>).</summary>
public interface IShardStoreProvider
{
    IShardStore For(string shardKey);

    /// <summary>The keys of every shard that has metadata document <paramref name="name"/> (e.g. the shards bound
    /// to Matching Engine, to resume their sync at start-up).</summary>
    IAsyncEnumerable<string> ShardsWithMetadataAsync(string name, CancellationToken cancellationToken);
}
