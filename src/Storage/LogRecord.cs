namespace Catalogs.Storage;

/// <summary>One entry of a write-ahead log: a sequence number, a caller-defined kind and an opaque payload.</summary>
public readonly record struct LogRecord(long Sequence, byte Kind, ReadOnlyMemory<byte> Payload);

/// <summary>A log or snapshot whose bytes fail their checksums or structure somewhere other than a torn tail.</summary>
public sealed class StorageCorruptException(string message) : IOException(message);
