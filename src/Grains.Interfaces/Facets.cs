namespace Catalogs.Grains;

/// <summary>How many products carry a restrict token (in their allow lists).</summary>
[GenerateSerializer, Immutable, Alias("Catalogs.TokenCount")]
public sealed record TokenCount([property: Id(0)] string Token, [property: Id(1)] int Products);

/// <summary>A restrict namespace's most frequent tokens, and how many distinct tokens it has in all.</summary>
[GenerateSerializer, Immutable, Alias("Catalogs.RestrictFacet")]
public sealed record RestrictFacet(
    [property: Id(0)] string Namespace,
    [property: Id(1)] TokenCount[] Tokens,
    [property: Id(2)] int DistinctTokens);

/// <summary>A numeric namespace's range over the products that carry it.</summary>
[GenerateSerializer, Immutable, Alias("Catalogs.NumericFacet")]
public sealed record NumericFacet(
    [property: Id(0)] string Namespace,
    [property: Id(1)] int Products,
    [property: Id(2)] double Min,
    [property: Id(3)] double Max);

/// <summary>What a catalog's products can be filtered by: its restrict namespaces with token counts, and its
/// numeric namespaces with their ranges (the shopper UI builds its facets from these).</summary>
[GenerateSerializer, Immutable, Alias("Catalogs.CatalogFacets")]
public sealed record CatalogFacets(
    [property: Id(0)] RestrictFacet[] Restricts,
    [property: Id(1)] NumericFacet[] Numeric)
{
    public const int MaxTokens = 1000;

    /// <summary>Shards' facets summed into the catalog's, each namespace's tokens cut to the
    /// <paramref name="maxTokens"/> most frequent.</summary>
    public static CatalogFacets Merge(IEnumerable<CatalogFacets> shards, int maxTokens)
    {
        var all = shards.ToArray();
        var restricts = all.SelectMany(f => f.Restricts).GroupBy(r => r.Namespace, StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g =>
            {
                var tokens = g.SelectMany(r => r.Tokens).GroupBy(t => t.Token, StringComparer.Ordinal)
                    .Select(t => new TokenCount(t.Key, t.Sum(x => x.Products))).ToArray();
                return new RestrictFacet(g.Key, tokens.OrderByDescending(t => t.Products)
                    .ThenBy(t => t.Token, StringComparer.Ordinal).Take(maxTokens).ToArray(),
                    Math.Max(tokens.Length, g.Max(r => r.DistinctTokens)));
            }).ToArray();
        var numeric = all.SelectMany(f => f.Numeric).GroupBy(n => n.Namespace, StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new NumericFacet(g.Key, g.Sum(n => n.Products), g.Min(n => n.Min), g.Max(n => n.Max)))
            .ToArray();
        return new CatalogFacets(restricts, numeric);
    }
}
