using Catalogs.Grains;

namespace Catalogs.Shards;

/// <summary>
/// A shard's facet counts, kept up to date as products are applied (so reading them costs the number of tokens,
/// not of products): for each restrict namespace the products per allow-list token, for each numeric namespace the
/// multiset of values (sorted, so the range survives removals).
/// </summary>
public sealed class FacetCounts
{
    readonly Dictionary<string, Dictionary<string, int>> tokens = new(StringComparer.Ordinal);
    readonly Dictionary<string, SortedDictionary<double, int>> numbers = new(StringComparer.Ordinal);
    readonly Lock gate = new();

    public void Add(Datapoint product) => Change(product, +1);

    public void Remove(Datapoint? product)
    {
        if (product is not null) Change(product, -1);
    }

    public void Clear()
    {
        lock (gate)
        {
            tokens.Clear();
            numbers.Clear();
        }
    }

    void Change(Datapoint product, int by)
    {
        lock (gate)
        {
            foreach (var restrict in product.FilterRestricts)
            {
                if (!tokens.TryGetValue(restrict.Namespace, out var counts))
                    tokens[restrict.Namespace] = counts = new(StringComparer.Ordinal);
                foreach (var token in restrict.AllowList.Distinct()) Count(counts, token, by);
                if (counts.Count == 0) tokens.Remove(restrict.Namespace);
            }
            foreach (var n in product.NumericRestricts)
            {
                if (double.IsNaN(n.Value)) continue;
                if (!numbers.TryGetValue(n.Namespace, out var values)) numbers[n.Namespace] = values = new();
                Count(values, n.Value, by);
                if (values.Count == 0) numbers.Remove(n.Namespace);
            }
        }
    }

    static void Count<T>(IDictionary<T, int> counts, T key, int by)
    {
        int now = counts.TryGetValue(key, out var c) ? c + by : by;
        if (now <= 0) counts.Remove(key);
        else counts[key] = now;
    }

    public CatalogFacets Read(int maxTokens)
    {
        lock (gate)
        {
            return new CatalogFacets(
                tokens.Select(t => new RestrictFacet(t.Key, t.Value.OrderByDescending(c => c.Value)
                    .ThenBy(c => c.Key, StringComparer.Ordinal).Take(maxTokens)
                    .Select(c => new TokenCount(c.Key, c.Value)).ToArray(), t.Value.Count)).ToArray(),
                numbers.Select(n => new NumericFacet(n.Key, n.Value.Values.Sum(), n.Value.Keys.First(),
                    n.Value.Keys.Last())).ToArray());
        }
    }
}
