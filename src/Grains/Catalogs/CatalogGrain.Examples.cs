using System.Numerics.Tensors;
using Catalogs.Evaluation;
using Catalogs.Imaging;
using Catalogs.Shards;
using Catalogs.VectorIndex;

namespace Catalogs.Grains.Catalogs;

/// <summary>
/// Searches from what a shopper gives: an image (or one box of it), a product, a vector, or several examples to
/// move towards and away from. <c>averageVector</c> searches once, near Σ wₚ·p / Σ wₚ − Σ wₙ·n / Σ wₚ (each example
/// unit length first under cosine, so weights mean what they say); <c>bestScore</c> searches near every positive and
/// ranks each candidate by its closest positive, candidates closer to a negative than to any positive last. A
/// direction adds w × (centroid of <c>to</c> − centroid of <c>from</c>). Products named as examples are never
/// results.
/// </summary>
public sealed partial class CatalogGrain
{
    public async Task<SearchResult> Find(SearchRequest request, CancellationToken cancellationToken)
    {
        using var shared = await gate.EnterSharedAsync(cancellationToken);
        var spec = Spec();
        var query = request.Query;
        var exclude = new List<string>();
        var positive = new List<(float[] Vector, float Weight)>();
        ProductColor? color = null;
        bool byColor = request.ColorWeight is > 0;
        if (byColor && spec.Metric != SimilarityMetric.Cosine)
            throw Invalid("colorWeight re-ranks cosine distances; this catalog's metric is " +
                $"{SpecEnumConverter<SimilarityMetric>.Name(spec.Metric)}.");
        if (request.Image is { } image)
        {
            var colorOf = byColor ? GrainFactory.GetGrain<IEncoderGrain>(0).DescribeColors([image], cancellationToken)
                : null;
            positive.Add((request.Region is { } region ? await EncodeRegionAsync(spec, image, region,
                cancellationToken) : await EncodeAsync(spec, image, "", cancellationToken), 1f));
            color = colorOf is null ? null : (await colorOf)[0];
        }
        else if (request.ProductId is { } id)
        {
            var product = await ProductAsync(spec, id, "", exclude, cancellationToken);
            positive.Add((product.FeatureVector, 1f));
            color = product.Color;
        }
        else if (query.Vector.Length > 0) positive.Add((query.Vector, 1f));
        if (byColor && color is null)
            throw Invalid("colorWeight needs a query image, or a query product stored with an image.");
        bool several = request.Positive is not null || request.Negative is not null || request.Direction is not null;
        if (!several)
        {
            if (positive.Count == 0 && query.Text is null) throw Invalid("The search has nothing to start from.");
            query = query with
            {
                Vector = positive.Count > 0 ? positive[0].Vector : [],
                ExcludeId = exclude.FirstOrDefault(),
            };
            return await SearchAsync(spec, request, query, color, cancellationToken);
        }
        var negative = new List<(float[] Vector, float Weight)>();
        foreach (var (e, i) in (request.Positive ?? []).Select((e, i) => (e, i)))
            positive.Add((await ExampleVectorAsync(spec, e, $"positive[{i}]", exclude, cancellationToken), e.Weight));
        foreach (var (e, i) in (request.Negative ?? []).Select((e, i) => (e, i)))
            negative.Add((await ExampleVectorAsync(spec, e, $"negative[{i}]", exclude, cancellationToken), e.Weight));
        if (positive.Count == 0) throw Invalid("A search with examples needs at least one positive example.");
        var metric = FilterMapping.ToDistance(spec.Metric);
        var shift = request.Direction is { } d ? await DirectionAsync(spec, d, metric, exclude, cancellationToken)
            : null;
        query = query with { ExcludeIds = exclude.Distinct(StringComparer.Ordinal).ToArray() };
        if (request.Strategy == ExampleStrategy.BestScore && (positive.Count > 1 || negative.Count > 0))
        {
            if (byColor || request.Expand)
                throw Invalid("colorWeight and expand combine with strategy averageVector, not bestScore.");
            return await BestScoreAsync(spec, metric, query, positive.Select(p => Shifted(Unit(metric, p.Vector),
                shift)).ToArray(), negative.Select(n => Unit(metric, n.Vector)).ToArray(), cancellationToken);
        }
        var target = new float[spec.Dimensions];
        float total = positive.Sum(p => p.Weight);
        foreach (var (v, w) in positive) TensorPrimitives.MultiplyAdd(Unit(metric, v), w / total, target, target);
        foreach (var (v, w) in negative) TensorPrimitives.MultiplyAdd(Unit(metric, v), -w / total, target, target);
        target = Shifted(target, shift);
        if (metric == DistanceMetric.Cosine && TensorPrimitives.Norm(target) < 1e-6f)
            throw Invalid("The examples cancel each other out: there is no direction left to search in.");
        return await SearchAsync(spec, request, query with { Vector = target }, color, cancellationToken);
    }

    /// <summary>The one search a request comes to: expanded when it asks, re-ranked by colour when it
    /// asks.</summary>
    async Task<SearchResult> SearchAsync(CatalogSpec spec, SearchRequest request, SearchQuery query,
        ProductColor? color, CancellationToken cancellationToken)
    {
        if (request.Expand) query = await ExpandedAsync(spec, query, cancellationToken);
        return request.ColorWeight is { } weight && weight > 0
            ? await ColorRankedAsync(query, color!, weight, cancellationToken)
            : await QueryCore(query, cancellationToken);
    }

    /// <summary>αQE (k 2, α 3, as measured in docs/quality.md): the query plus its 2 best matches, each unit length
    /// and weighted by max(cos, 0)³, to be searched again. Cosine catalogs, vector side only.</summary>
    async Task<SearchQuery> ExpandedAsync(CatalogSpec spec, SearchQuery query, CancellationToken cancellationToken)
    {
        if (spec.Metric != SimilarityMetric.Cosine)
            throw Invalid("expand works on cosine catalogs; this one's metric is " +
                $"{SpecEnumConverter<SimilarityMetric>.Name(spec.Metric)}.");
        if (query.Vector.Length == 0) throw Invalid("expand needs an image, product or vector to expand.");
        var first = await QueryCore(query with
        {
            NeighborCount = 2,
            ReturnVectors = true,
            PerCrowdingAttributeNeighborCount = null,
            Text = null,
        }, cancellationToken);
        return query with
        {
            Vector = FrozenFeatureLifts.Expand(Unit(DistanceMetric.Cosine, query.Vector),
                first.Hits.Take(2).Select(h => Unit(DistanceMetric.Cosine, h.Datapoint.FeatureVector)).ToArray()),
        };
    }

    /// <summary>The visual search widened (4 × k, at least 50 candidates), then ranked by (1 − w) × the visual
    /// distance + w × the colour distance to <paramref name="color"/>; crowding applies to the final ranking.
    /// Products without colours count as sharing none.</summary>
    async Task<SearchResult> ColorRankedAsync(SearchQuery query, ProductColor color, float weight,
        CancellationToken cancellationToken)
    {
        var wide = await QueryCore(query with
        {
            NeighborCount = Math.Min(1000, Math.Max(50, 4 * query.NeighborCount)),
            PerCrowdingAttributeNeighborCount = null,
        }, cancellationToken);
        var ranked = wide.Hits.Select(h => h with
        {
            Distance = (1 - weight) * h.Distance + weight * (h.Datapoint.Color is { } c
                ? ColorDescriptor.Distance(c.Histogram, color.Histogram) : 1f),
        });
        return wide with { Hits = TopK(ranked.OrderBy(h => h.Distance), query) };
    }

    /// <summary>One image box through the catalog's encoder.</summary>
    async Task<float[]> EncodeRegionAsync(CatalogSpec spec, byte[] image, ImageRegion region,
        CancellationToken cancellationToken)
    {
        var encoder = spec.Encoder ?? throw Invalid(
            $"Catalog '{Name}' is vector-only (it has no encoder): send featureVector instead of an image.");
        return await GrainFactory.GetGrain<IEncoderGrain>(0).EncodeRegion(encoder, image, region, cancellationToken);
    }

    /// <summary>A product named by a query, which is then never one of its results.</summary>
    async Task<Datapoint> ProductAsync(CatalogSpec spec, string id, string what, List<string> exclude,
        CancellationToken cancellationToken)
    {
        var product = await GetCore(spec, id, cancellationToken) ?? throw CatalogRequestException.NotFound(
            $"{what}Product '{id}' does not exist in catalog '{Name}'.");
        exclude.Add(id);
        return product;
    }

    async Task<float[]> ProductVectorAsync(CatalogSpec spec, string id, string what, List<string> exclude,
        CancellationToken cancellationToken) =>
        (await ProductAsync(spec, id, what, exclude, cancellationToken)).FeatureVector;

    async Task<float[]> ExampleVectorAsync(CatalogSpec spec, QueryExample example, string what, List<string> exclude,
        CancellationToken cancellationToken)
    {
        if (example.ProductId is { } id) return await ProductVectorAsync(spec, id, what + ": ", exclude,
            cancellationToken);
        if (example.Image is { } image) return await EncodeAsync(spec, image, what + ": ", cancellationToken);
        var vector = example.Vector ?? throw Invalid($"{what} names no product, image or vector.");
        return vector.Length == spec.Dimensions ? vector
            : throw Invalid($"{what} has {vector.Length} dimensions; the catalog has {spec.Dimensions}.");
    }

    async Task<float[]> DirectionAsync(CatalogSpec spec, QueryDirection direction, DistanceMetric metric,
        List<string> exclude, CancellationToken cancellationToken)
    {
        async Task<float[]> Centroid(string[] ids, string what)
        {
            var sum = new float[spec.Dimensions];
            foreach (var (id, i) in ids.Select((id, i) => (id, i)))
            {
                var v = Unit(metric, await ProductVectorAsync(spec, id, $"direction.{what}[{i}]: ", exclude,
                    cancellationToken));
                TensorPrimitives.Add(sum, v, sum);
            }
            TensorPrimitives.Divide(sum, ids.Length, sum);
            return sum;
        }
        var shift = await Centroid(direction.To, "to");
        var from = await Centroid(direction.From, "from");
        TensorPrimitives.Subtract(shift, from, shift);
        TensorPrimitives.Multiply(shift, direction.Weight, shift);
        return shift;
    }

    static float[] Shifted(float[] vector, float[]? shift)
    {
        if (shift is null) return vector;
        var moved = new float[vector.Length];
        TensorPrimitives.Add(vector, shift, moved);
        return moved;
    }

    /// <summary>Under cosine, a unit-length copy (examples count by direction, not length); else the vector.</summary>
    static float[] Unit(DistanceMetric metric, float[] vector)
    {
        if (metric != DistanceMetric.Cosine) return vector;
        var unit = vector.ToArray();
        VectorMath.NormalizeInPlace(unit);
        return unit;
    }

    /// <summary>A search near every positive; each candidate ranked by its closest positive (its distance is that
    /// one's), candidates closer to some negative than to every positive after all others.</summary>
    async Task<SearchResult> BestScoreAsync(CatalogSpec spec, DistanceMetric metric, SearchQuery query,
        float[][] positive, float[][] negative, CancellationToken cancellationToken)
    {
        var perPositive = await Task.WhenAll(positive.Select(p => SearchCore(query with
        {
            Vector = p,
            ReturnVectors = true,
            PerCrowdingAttributeNeighborCount = null,
        }, cancellationToken)));
        var ranked = new List<(SearchHit Hit, bool Repelled, float Key)>();
        foreach (var hit in perPositive.SelectMany(r => r.Hits).DistinctBy(h => h.Id))
        {
            var v = Unit(metric, hit.Datapoint.FeatureVector);
            float toPositive = positive.Min(p => VectorMath.Distance(metric, v, p));
            float toNegative = negative.Length == 0 ? float.PositiveInfinity
                : negative.Min(n => VectorMath.Distance(metric, v, n));
            bool repelled = toNegative < toPositive;
            var shown = query.ReturnVectors ? hit.Datapoint : hit.Datapoint with { FeatureVector = [] };
            ranked.Add((hit with { Distance = toPositive, Datapoint = shown }, repelled,
                repelled ? -toNegative : toPositive));
        }
        var collector = new ResultCollector(query.NeighborCount, query.PerCrowdingAttributeNeighborCount);
        var order = ranked.OrderBy(r => r.Repelled).ThenBy(r => r.Key).ToArray();
        for (int i = 0; i < order.Length; i++) collector.Add(order[i].Hit.Id, i, order[i].Hit.Datapoint.CrowdingTag);
        var byId = order.ToDictionary(r => r.Hit.Id, r => r.Hit, StringComparer.Ordinal);
        var missing = perPositive.SelectMany(r => r.Missing).Distinct().Order().ToArray();
        return new SearchResult(collector.ToList().Select(n => byId[n.Id]).ToArray(), QueryRouting.Local,
            MissingShards: missing);
    }
}
