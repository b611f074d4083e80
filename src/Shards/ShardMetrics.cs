using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Catalogs.Shards;

/// <summary>The shards' instruments (meter <c>Catalogs.Shards</c>), tagged with the shard and its role (primary or
/// replica): sizes and memory of every open shard, search latency, lease changes and how far replicas lag.</summary>
static class ShardMetrics
{
    static readonly Meter Meter = new("Catalogs.Shards");
    static readonly ConcurrentDictionary<LocalShard, byte> Open = new();

    static readonly Histogram<double> SearchDuration = Meter.CreateHistogram<double>("catalogs.shard.search.duration",
        "s", "Time of one shard's index search");

    static readonly Counter<long> Leases = Meter.CreateCounter<long>("catalogs.shard.lease.acquired", "{lease}",
        "Write leases taken (a primary opened: first activation, failover, move)");

    static readonly Histogram<double> CatchUp = Meter.CreateHistogram<double>("catalogs.replica.catch_up.duration",
        "s", "Time a replica took to apply what the primary logged since its last poll");

    static ShardMetrics()
    {
        Meter.CreateObservableGauge("catalogs.shard.products", () => Open.Keys.Select(s =>
            new Measurement<long>(s.Count, s.Tags)), "{product}", "Products a shard holds");
        Meter.CreateObservableGauge("catalogs.shard.index.memory", () => Open.Keys.Select(s =>
        {
            var m = s.IndexMemory;
            return new Measurement<long>(m.WalkBytes + m.RerankBytes + m.OtherBytes, s.Tags);
        }), "By", "Heap bytes of a shard's index (vectors, graph, re-rank copies)");
        Meter.CreateObservableGauge("catalogs.replica.staleness", () => Open.Keys.Where(s => s.IsReplica).Select(s =>
            new Measurement<double>((DateTime.UtcNow - s.CaughtUpAt).TotalSeconds, s.Tags)), "s",
            "Age of the newest state a replica is known to hold (replica lag)");
    }

    public static void Opened(LocalShard shard) => Open.TryAdd(shard, 0);

    public static void Closed(LocalShard shard) => Open.TryRemove(shard, out _);

    public static void Searched(LocalShard shard, TimeSpan elapsed) =>
        SearchDuration.Record(elapsed.TotalSeconds, shard.Tags);

    public static void LeaseTaken(string shard) => Leases.Add(1, new KeyValuePair<string, object?>("shard", shard));

    public static void CaughtUp(LocalShard shard, TimeSpan elapsed) => CatchUp.Record(elapsed.TotalSeconds, shard.Tags);
}
