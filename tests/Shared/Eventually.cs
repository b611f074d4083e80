namespace Catalogs.Tests;

/// <summary>Waits for work that runs in the background (snapshots, deletions) however busy the machine is, instead
/// of sleeping a fixed time and hoping.</summary>
static class Eventually
{
    public static async Task<bool> HoldsAsync(Func<bool> condition, TimeSpan? within = null)
    {
        var until = DateTime.UtcNow + (within ?? TimeSpan.FromSeconds(30));
        while (!condition())
        {
            if (DateTime.UtcNow >= until) return false;
            await Task.Delay(20);
        }
        return true;
    }
}
