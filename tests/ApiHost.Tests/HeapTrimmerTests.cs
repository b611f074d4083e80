using Catalogs.ServiceDefaults.Memory;
using Microsoft.Extensions.Logging.Abstractions;

namespace Catalogs.ApiHost.Tests;

public class HeapTrimmerTests
{
    [Fact]
    public void A_spell_of_garbage_is_collected_once_the_process_is_quiet_and_only_then()
    {
        var options = new MemoryOptions { TrimAfterAllocatedMiB = 64, QuietBelowMiBPerSecond = 16 };
        var trimmer = new HeapTrimmer(options, NullLogger<HeapTrimmer>.Instance);
        Allocate(96);
        // Still busy: 96 MiB in a millisecond.
        Assert.False(trimmer.Sample(TimeSpan.FromMilliseconds(1)));
        int full = GC.CollectionCount(GC.MaxGeneration);
        // Quiet (an hour-long period: whatever other tests allocate meanwhile is a trickle).
        Assert.True(trimmer.Sample(TimeSpan.FromHours(1)));
        Assert.True(GC.CollectionCount(GC.MaxGeneration) > full);
        // Nothing worth it since.
        Assert.False(trimmer.Sample(TimeSpan.FromHours(1)));
        Assert.Equal(1, trimmer.Trims);
    }

    [Theory]
    [InlineData(300, 1.0, true, true)]
    [InlineData(100, 1.0, true, false)] // too little allocated since the last trim
    [InlineData(300, 20.0, true, false)] // still busy
    [InlineData(300, 1.0, false, false)] // turned off
    public void Trims_need_enough_garbage_a_quiet_period_and_the_setting(int allocatedMiB, double mibPerSecond,
        bool enabled, bool expected)
    {
        var options = new MemoryOptions { TrimWhenQuiet = enabled };
        Assert.Equal(expected, HeapTrimmer.ShouldTrim((long)allocatedMiB << 20, mibPerSecond * (1 << 20), options));
    }

    static void Allocate(int mib)
    {
        for (int i = 0; i < mib; i++) GC.KeepAlive(new byte[1 << 20]);
    }
}
