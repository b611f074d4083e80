namespace Catalogs.Grains;

[GenerateSerializer, Alias("Catalogs.ShardSettings")]
public sealed record ShardSettings(
    [property: Id(0)] int Shard,
    [property: Id(1)] SimilarityMetric Metric,
    [property: Id(2)] int Dimensions,
    [property: Id(3)] IndexSpec? Index = null);
