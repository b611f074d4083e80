using Catalogs.Storage;

namespace Catalogs.Shards.Storage;

/// <summary>
/// A shard's store in a local directory, the embedded mode's: <c>log/wal-*.log</c>, <c>snapshot-*.snap</c>, blobs and
/// metadata as files written atomically (temp file, fsync, rename), and the write lease in <c>lease</c>
/// (<see cref="FileLease"/>). The layout is the one earlier versions wrote, so their data directories load.
/// </summary>
public sealed class LocalShardStore(string directory) : IShardStore
{
    public string Directory { get; } = directory;

    public byte[]? ReadMetadata(string name) => ReadFile(Path.Combine(Directory, name));

    internal static byte[]? ReadFile(string path) => File.Exists(path) ? File.ReadAllBytes(path) : null;

    public Task<IShardWriter> OpenWriterAsync(CancellationToken cancellationToken) => Task.Run<IShardWriter>(() =>
    {
        var lease = FileLease.Acquire(Directory);
        try
        {
            // Opened after the lease is taken: the torn-tail repair never races a former writer's append.
            return new Writer(Directory, lease, WriteAheadLog.Open(Path.Combine(Directory, "log"), lease));
        }
        catch
        {
            lease.Dispose();
            throw;
        }
    }, cancellationToken);

    public IShardReader OpenReader() => new Reader(Directory);

    /// <summary>Reads files as the writer leaves them: every file it replaces is replaced atomically, and the log's
    /// torn tail (an append under way) reads as not yet there.</summary>
    class Reader(string directory) : IShardReader
    {
        protected string Root => directory;

        public IEnumerable<LogRecord> ReadLog(long afterSequence) =>
            WriteAheadLog.Read(Path.Combine(directory, "log"), afterSequence);

        public long LogFloor() => WriteAheadLog.Floor(Path.Combine(directory, "log"));

        public Snapshot? ReadLatestSnapshot(Action<string> onSkipped) => SnapshotFile.ReadLatest(directory, onSkipped);

        public Stream? OpenBlob(string name)
        {
            var path = Path.Combine(directory, name);
            return File.Exists(path) ? new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read,
                1 << 20) : null;
        }

        public byte[]? ReadMetadata(string name) => ReadFile(Path.Combine(directory, name));
    }

    sealed class Writer(string directory, FileLease lease, WriteAheadLog log) : Reader(directory), IShardWriter
    {
        public long Epoch => lease.Epoch;

        public long LastSequence => log.LastSequence;

        public Task AppendAsync(IReadOnlyList<LogRecord> records) => log.AppendAsync(records);

        public Task RollLogAsync() => log.RollAsync();

        public Task<int> DeleteLogThroughAsync(long sequence) => Task.FromResult(log.DeleteSegmentsThrough(sequence));

        public async Task WriteSnapshotAsync(long sequence, IEnumerable<ReadOnlyMemory<byte>> entries)
        {
            using var admitted = lease.Enter();
            await SnapshotFile.WriteAsync(Root, sequence, entries);
        }

        public Task WriteBlobAsync(string name, Action<Stream> write) => Fenced(() =>
        {
            var path = Path.Combine(Root, name);
            System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            FileDurability.WriteAtomically(path, write, bufferSize: 1 << 20);
        });

        public Task DeleteBlobAsync(string name) => Fenced(() => File.Delete(Path.Combine(Root, name)));

        public Task WriteMetadataAsync(string name, byte[] content) => Fenced(() =>
            FileDurability.WriteAllBytesAtomically(Path.Combine(Root, name), content));

        public Task DeleteMetadataAsync(string name) => Fenced(() => File.Delete(Path.Combine(Root, name)));

        public async Task DestroyAsync()
        {
            using (lease.Enter()) { } // only the lease holder may destroy
            await log.DisposeAsync();
            lease.Dispose();
            if (System.IO.Directory.Exists(Root)) System.IO.Directory.Delete(Root, recursive: true);
        }

        Task Fenced(Action write) => Task.Run(() =>
        {
            using var admitted = lease.Enter();
            write();
        });

        public async ValueTask DisposeAsync()
        {
            await log.DisposeAsync();
            lease.Dispose();
        }
    }
}

/// <summary>Shard stores under <c>{dataPath}/shards/{tenant}/{catalog}/{incarnation}/{shard}</c>.</summary>
public sealed class LocalShardStoreProvider(string dataPath) : IShardStoreProvider
{
    string Root => Path.Combine(Path.GetFullPath(dataPath), "shards");

    public IShardStore For(string shardKey) =>
        // Every part of the key is validated upstream to be file-name safe.
        new LocalShardStore(Path.Combine(Root, Path.Combine(shardKey.Split('/'))));

    public async IAsyncEnumerable<string> ShardsWithMetadataAsync(string name,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (!System.IO.Directory.Exists(Root)) yield break;
        await Task.Yield(); // the directory walk runs off the caller's turn
        foreach (var file in System.IO.Directory.EnumerateFiles(Root, name, SearchOption.AllDirectories))
        {
            cancellationToken.ThrowIfCancellationRequested();
            // shards/{tenant}/{catalog}/{incarnation}/{shard}/{name} → the shard's key.
            yield return Path.GetRelativePath(Root, Path.GetDirectoryName(file)!).Replace(Path.DirectorySeparatorChar,
                '/');
        }
    }
}
