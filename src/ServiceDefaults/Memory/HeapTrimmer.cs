using System.Diagnostics.Metrics;
using System.Runtime;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Catalogs.ServiceDefaults.Memory;

/// <summary>Once a busy spell (a bulk load, an import, a catalog rebuilt) is over, one aggressive collection
/// compacts the managed heap, large objects included, and decommits its free memory: the index stays, the request
/// bodies it was built from go back to the operating system. Quiet means the allocation rate fell below
/// <see cref="MemoryOptions.QuietBelowMiBPerSecond"/> for a whole <see cref="MemoryOptions.QuietPeriod"/>, so a
/// busy process never pays the pause.</summary>
public sealed class HeapTrimmer(MemoryOptions options, ILogger<HeapTrimmer> logger) : BackgroundService
{
    static readonly Meter Meter = new("Catalogs.Memory");
    static readonly Counter<long> TrimCount = Meter.CreateCounter<long>("catalogs.memory.trims",
        description: "Aggressive collections run after a busy spell");

    long allocatedAtTrim = GC.GetTotalAllocatedBytes();
    long allocatedAtSample = GC.GetTotalAllocatedBytes();

    /// <summary>Trims that ran, for the tests and the log.</summary>
    public int Trims { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.TrimWhenQuiet) return;
        using var timer = new PeriodicTimer(options.QuietPeriod);
        while (await timer.WaitForNextTickAsync(stoppingToken)) Sample(options.QuietPeriod);
    }

    /// <summary>One sample of the allocation counter <paramref name="elapsed"/> after the previous one; trims
    /// when the spell since the last trim was big enough and this period was quiet. True when it trimmed.</summary>
    public bool Sample(TimeSpan elapsed)
    {
        long allocated = GC.GetTotalAllocatedBytes();
        double rate = (allocated - allocatedAtSample) / Math.Max(elapsed.TotalSeconds, 1e-3);
        allocatedAtSample = allocated;
        long spell = allocated - allocatedAtTrim;
        if (!ShouldTrim(spell, rate, options)) return false;
        long before = Environment.WorkingSet;
        var pause = System.Diagnostics.Stopwatch.StartNew();
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        allocatedAtTrim = allocatedAtSample = GC.GetTotalAllocatedBytes();
        Trims++;
        TrimCount.Add(1);
        logger.LogInformation("Heap trimmed after {Allocated} MiB allocated: working set {Before} → {After} MiB, " +
            "pause {Pause} ms", spell >> 20, before >> 20, Environment.WorkingSet >> 20,
            pause.ElapsedMilliseconds);
        return true;
    }

    public static bool ShouldTrim(long allocatedSinceTrim, double bytesPerSecond, MemoryOptions options) =>
        options.TrimWhenQuiet && allocatedSinceTrim >= (long)options.TrimAfterAllocatedMiB << 20
        && bytesPerSecond < (double)options.QuietBelowMiBPerSecond * (1 << 20);
}
