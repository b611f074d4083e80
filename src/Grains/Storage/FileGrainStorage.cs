using System.Text.Json;
using Catalogs.Storage;
using Orleans.Runtime;
using Orleans.Storage;

namespace Catalogs.Grains.Storage;

/// <summary>
/// Grain state as JSON files under <c>{DataPath}/grain-state</c>, for the embedded single-process mode: each write
/// goes to a temporary file, is fsynced and renamed over the old one. Only small state (catalog configs, tenant
/// catalog lists) lives here; shards keep their data in their own log and snapshots.
/// </summary>
public sealed class FileGrainStorage(string root) : IGrainStorage
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var path = PathOf(stateName, grainId);
        if (!File.Exists(path))
        {
            grainState.Empty();
            return;
        }
        await using var stream = File.OpenRead(path);
        grainState.State = await JsonSerializer.DeserializeAsync<T>(stream, Json) ?? Activator.CreateInstance<T>();
        grainState.RecordExists = true;
        grainState.ETag = File.GetLastWriteTimeUtc(path).Ticks.ToString();
    }

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var path = PathOf(stateName, grainId);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var bytes = JsonSerializer.SerializeToUtf8Bytes(grainState.State, Json);
        await Task.Run(() => FileDurability.WriteAllBytesAtomically(path, bytes));
        grainState.RecordExists = true;
        grainState.ETag = File.GetLastWriteTimeUtc(path).Ticks.ToString();
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        File.Delete(PathOf(stateName, grainId));
        grainState.Empty();
        return Task.CompletedTask;
    }

    string PathOf(string stateName, GrainId grainId)
    {
        // Grain ids hold '/' (tenant/catalog): keep them readable but file-name safe.
        var name = Uri.EscapeDataString(grainId.ToString());
        return Path.Combine(root, "grain-state", Uri.EscapeDataString(stateName), name + ".json");
    }
}
