using Orleans.Storage;

namespace Catalogs.Grains.Storage;

static class GrainStates
{
    /// <summary>The state of a grain with no stored record: defaults, and no version to check a write
    /// against.</summary>
    public static void Empty<T>(this IGrainState<T> grainState)
    {
        grainState.State = Activator.CreateInstance<T>();
        grainState.RecordExists = false;
        grainState.ETag = null;
    }
}
