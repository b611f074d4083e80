using System.Runtime.InteropServices;

namespace Catalogs.Storage;

/// <summary>fsync for directories: a new or renamed file is durable only once its directory entry is.</summary>
public static partial class FileDurability
{
    const int ReadOnly = 0; // O_RDONLY

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);

    public static void FlushDirectory(string directory)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return;
        int fd = Open(directory, ReadOnly);
        if (fd < 0)
            throw new IOException($"Cannot open directory '{directory}' to sync it (errno " +
            $"{Marshal.GetLastPInvokeError()}).");
        try
        {
            if (Fsync(fd) != 0)
                throw new IOException($"fsync of directory '{directory}' failed (errno " +
                $"{Marshal.GetLastPInvokeError()}).");
        }
        finally { Close(fd); }
    }

    /// <summary>Writes <paramref name="target"/> atomically and durably: <paramref name="write"/> fills a temporary
    /// file, which is flushed to disk and renamed over the target, and the directory is synced. A crash leaves the old
    /// file or the new one, never part of one.</summary>
    public static void WriteAtomically(string target, Action<Stream> write, int bufferSize = 4096)
    {
        var temp = target + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize))
        {
            write(stream);
            stream.Flush(flushToDisk: true);
        }
        Publish(temp, target);
    }

    public static void WriteAllBytesAtomically(string target, byte[] bytes) => WriteAtomically(target, stream =>
        stream.Write(bytes));

    /// <summary>Replaces <paramref name="target"/> with <paramref name="temp"/> atomically and durably.</summary>
    public static void Publish(string temp, string target)
    {
        File.Move(temp, target, overwrite: true);
        FlushDirectory(Path.GetDirectoryName(Path.GetFullPath(target))!);
    }
}
