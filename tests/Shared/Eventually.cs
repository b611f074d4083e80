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

    /// <summary>Polls an asynchronous condition (a probe, an HTTP answer) until it holds or time is up.</summary>
    public static async Task<bool> HoldsAsync(Func<Task<bool>> condition, TimeSpan? within = null)
    {
        var until = DateTime.UtcNow + (within ?? TimeSpan.FromSeconds(30));
        while (!await condition())
        {
            if (DateTime.UtcNow >= until) return false;
            await Task.Delay(200);
        }
        return true;
    }

    /// <summary>The first answer of <paramref name="call"/> that is not a failure <paramref name="retryable"/>
    /// accepts (a silo being declared dead, a shard moving), as a client that retries would see it.</summary>
    public static async Task<T> SucceedsAsync<T>(Func<Task<T>> call, Func<Exception, bool> retryable,
        TimeSpan? within = null)
    {
        var until = DateTime.UtcNow + (within ?? TimeSpan.FromSeconds(90));
        while (true)
        {
            try
            {
                return await call();
            }
            catch (Exception ex) when (retryable(ex) && DateTime.UtcNow < until)
            {
                await Task.Delay(200);
            }
        }
    }
}
