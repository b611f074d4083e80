using System.IO.Pipelines;
using System.Text;
using Catalogs.Grains;
using Catalogs.Shards.Sync;
using Catalogs.VertexAI;

namespace Catalogs.Shards.Export;

/// <summary>Writes a shard to Cloud Storage as Vertex JSONL: all of its products, or the changes since its last
/// applied export (read from its log, coalesced per id), with removed ids in a second object.</summary>
public sealed class ShardExporter(CloudStorageClient storage)
{
    public async Task<ShardExport> ExportAsync(LocalShard shard, string bucket, string objectName,
        string deleteObjectName,
        bool delta, CancellationToken cancellationToken)
    {
        long sequence = shard.LastSequence;
        IReadOnlyCollection<Datapoint> upserts;
        IReadOnlyCollection<string> removals = [];
        if (!delta) upserts = shard.Products(); // immutable records, as of now
        else
        {
            long since = shard.ExportMark
                ?? throw CatalogRequestException.Conflict("No export was applied yet: run a full export first.");
            var changes = await Task.Run(() => shard.ReadChanges(since, sequence), cancellationToken)
                ?? throw CatalogRequestException.Conflict("The log no longer reaches back to the last export: run a " +
                    "full export.");
            var last = new Dictionary<string, Datapoint?>(StringComparer.Ordinal);
            foreach (var change in changes) last[change.Id] = change.Upsert;
            upserts = last.Values.OfType<Datapoint>().ToArray();
            removals = last.Where(c => c.Value is null).Select(c => c.Key).ToArray();
        }
        var objects = new List<string>();
        if (upserts.Count > 0 || !delta)
        {
            // Vectors are read from the index as the lines are written, not held for the whole shard at once.
            await UploadLinesAsync(bucket, objectName, shard.WithVectors(upserts).Select(p =>
                JsonlRecord.Format(ShardSync.ToIndexDatapoint(p))),
                cancellationToken);
            objects.Add(objectName);
        }
        if (removals.Count > 0)
        {
            await UploadLinesAsync(bucket, deleteObjectName, removals, cancellationToken);
            objects.Add(deleteObjectName);
        }
        return new ShardExport(sequence, upserts.Count, removals.Count, objects.ToArray());
    }

    /// <summary>Lines written on the thread pool into a pipe that the resumable upload reads: nothing is held in memory
    /// as a whole.</summary>
    async Task UploadLinesAsync(string bucket, string objectName, IEnumerable<string> lines,
        CancellationToken cancellationToken)
    {
        var pipe = new Pipe();
        var writing = Task.Run(async () =>
        {
            try
            {
                await using var writer = pipe.Writer.AsStream();
                foreach (var line in lines) await writer.WriteAsync(Encoding.UTF8.GetBytes(line + "\n"),
                    cancellationToken);
            }
            catch (Exception ex)
            {
                await pipe.Writer.CompleteAsync(ex);
                throw;
            }
        }, cancellationToken);
        await using var reader = pipe.Reader.AsStream();
        await storage.UploadAsync(bucket, objectName, reader, "application/json", cancellationToken);
        await writing;
    }
}
