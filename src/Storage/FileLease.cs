using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Catalogs.Storage;

/// <summary>Guards every write of a store: <see cref="Enter"/> throws <see cref="FencedException"/> once a newer
/// writer holds the store, and holds that newer writer off until the write it guards is done.</summary>
public interface IWriteFence
{
    long Epoch { get; }

    IDisposable Enter();
}

/// <summary>A write refused because a newer writer took the store's lease.</summary>
public sealed class FencedException(long epoch, long current)
    : IOException($"This writer's lease (epoch {epoch}) was taken over by epoch {current}: its writes are refused.")
{
    public long Epoch { get; } = epoch;
    public long CurrentEpoch { get; } = current;
}

/// <summary>
/// The write lease of a directory, with a monotonically increasing epoch. <see cref="Acquire"/> takes it over from
/// whoever held it (epoch + 1, written durably); every guarded write then checks, under a shared <c>flock</c>, that the
/// epoch on disk is still its own. Taking the lease needs the exclusive lock, so it waits for writes in flight and
/// every later write of the old holder is refused: two processes, or two activations in one process, never both write.
/// </summary>
public sealed partial class FileLease : IWriteFence, IDisposable
{
    const string FileName = "lease";
    const int Shared = 1, Exclusive = 2, Unlock = 8;

    readonly FileStream file;
    readonly Lock holders = new();
    // A flock belongs to the open file, not to a thread: concurrent writers of this lease share one shared lock,
    // taken by the first and released by the last.
    int held;

    FileLease(FileStream file, long epoch)
    {
        this.file = file;
        Epoch = epoch;
    }

    public long Epoch { get; }

    /// <summary>Takes the lease of <paramref name="directory"/> (created when absent): the epoch after the last
    /// one.</summary>
    public static FileLease Acquire(string directory)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, FileName);
        var file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite,
            FileShare.ReadWrite | FileShare.Delete, 1,
            FileOptions.None);
        try
        {
            Lock(file.SafeFileHandle, Exclusive);
            try
            {
                long epoch = ReadEpoch(file) + 1;
                Span<byte> bytes = stackalloc byte[8];
                BinaryPrimitives.WriteInt64LittleEndian(bytes, epoch);
                RandomAccess.Write(file.SafeFileHandle, bytes, 0);
                file.Flush(flushToDisk: true);
                FileDurability.FlushDirectory(directory);
                return new FileLease(file, epoch);
            }
            finally
            {
                Lock(file.SafeFileHandle, Unlock);
            }
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>The epoch on disk now (0 when the lease was never taken).</summary>
    public static long CurrentEpoch(string directory)
    {
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path)) return 0;
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        return ReadEpoch(file);
    }

    public IDisposable Enter()
    {
        lock (holders)
        {
            if (held == 0) Lock(file.SafeFileHandle, Shared);
            long current = ReadEpoch(file);
            if (current == Epoch)
            {
                held++;
                return new Held(this);
            }
            if (held == 0) Lock(file.SafeFileHandle, Unlock);
            throw new FencedException(Epoch, current);
        }
    }

    void Exit()
    {
        lock (holders)
        {
            if (--held == 0) Lock(file.SafeFileHandle, Unlock);
        }
    }

    static long ReadEpoch(FileStream file)
    {
        Span<byte> bytes = stackalloc byte[8];
        return RandomAccess.Read(file.SafeFileHandle, bytes,
            0) == 8 ? BinaryPrimitives.ReadInt64LittleEndian(bytes) : 0;
    }

    static void Lock(SafeFileHandle handle, int operation)
    {
        // flock, not fcntl: its locks belong to the open file, so two leases in one process exclude each other too.
        while (flock((int)handle.DangerousGetHandle(), operation) != 0)
        {
            int error = Marshal.GetLastPInvokeError();
            if (error != 4) throw new IOException($"flock failed with errno {error}."); // 4: EINTR, try again
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int flock(int fd, int operation);

    public void Dispose() => file.Dispose();

    sealed class Held(FileLease lease) : IDisposable
    {
        int disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref disposed, 1) == 0) lease.Exit();
        }
    }
}
