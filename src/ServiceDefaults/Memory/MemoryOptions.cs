using System.ComponentModel.DataAnnotations;

namespace Catalogs.ServiceDefaults.Memory;

/// <summary>When a process hands the garbage of a busy spell back to the operating system (section
/// <c>Memory</c>).</summary>
public sealed class MemoryOptions
{
    public const string Section = "Memory";

    /// <summary>Compact the managed heap and return its free memory once a busy spell is over. The server
    /// collector otherwise keeps what a bulk load's request bodies needed (hundreds of MiB after 100k products)
    /// committed until the next busy spell.</summary>
    public bool TrimWhenQuiet { get; set; } = true;

    /// <summary>How much must have been allocated since the last trim for another to be worth its pause.</summary>
    [Range(1, 1 << 20)]
    public int TrimAfterAllocatedMiB { get; set; } = 256;

    /// <summary>How often the allocation rate is sampled; a trim needs one whole quiet period.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan QuietPeriod { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Allocation rate below which the process counts as quiet: idle or nearly (a hundred searches a
    /// second allocate more), so a steadily busy process is never trimmed over and over.</summary>
    [Range(1, 1 << 20)]
    public int QuietBelowMiBPerSecond { get; set; } = 2;
}
