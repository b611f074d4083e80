namespace Catalogs.VectorIndex;

/// <summary>How two vectors are compared. Every metric is reported as a distance: lower is closer.</summary>
public enum DistanceMetric
{
    /// <summary>1 − cosine similarity. Vectors are normalised once on insert, so search is a dot product.</summary>
    Cosine,
    /// <summary>−(a·b): the larger the inner product, the closer.</summary>
    DotProduct,
    /// <summary>Σ (aᵢ − bᵢ)².</summary>
    SquaredL2,
    /// <summary>Σ |aᵢ − bᵢ| (Manhattan).</summary>
    L1,
}
