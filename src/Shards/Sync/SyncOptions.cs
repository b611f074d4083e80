namespace Catalogs.Shards.Sync;

/// <summary>How a shard mirrors into Matching Engine (section <c>Catalogs:Sync</c>).</summary>
public sealed class SyncOptions
{
    /// <summary>Most changes per request (Vertex accepts up to 1,000 datapoints per upsert).</summary>
    [System.ComponentModel.DataAnnotations.Range(1, 1000)] public int MaxBatch { get; set; } = 500;

    /// <summary>Largest request body, estimated (Vertex's limit is 10 MB).</summary>
    [System.ComponentModel.DataAnnotations.Range(1024,
        10_000_000)]
    public int MaxRequestBytes { get; set; } = 8_000_000;

    /// <summary>How often a shard with a backlog looks at it.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>First and longest wait after a failed request (exponential in between, with jitter).</summary>
    public TimeSpan MinBackoff { get; set; } = TimeSpan.FromMilliseconds(200);
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(30);
}
