namespace Catalogs.Grains.Catalogs;

/// <summary>What a catalog grain persists: small, so whole-state writes are fine here.</summary>
[GenerateSerializer, Alias("Catalogs.CatalogState")]
public sealed class CatalogState
{
    [Id(0)] public CatalogSpec? Spec { get; set; }
    [Id(1)] public long Version { get; set; }
    /// <summary>Part of the shard keys: a catalog deleted and created again never meets its old shards.</summary>
    [Id(2)] public string Incarnation { get; set; } = "";
    [Id(3)] public DateTimeOffset CreatedAt { get; set; }
    [Id(4)] public DateTimeOffset UpdatedAt { get; set; }
    /// <summary>The other version every write also goes to: the one a re-embedding builds, or the previous one kept
    /// for a rollback.</summary>
    [Id(5)] public ShadowVersion? Shadow { get; set; }
    /// <summary>The latest re-embedding, as catalog stats show it.</summary>
    [Id(6)] public Reembedding? Reembedding { get; set; }
    /// <summary>The latest training of an encoder head.</summary>
    [Id(7)] public TrainingStatus? Training { get; set; }
    /// <summary>The latest evaluation, with its report.</summary>
    [Id(8)] public EvaluationStatus? Evaluation { get; set; }

    public CatalogState With(Action<CatalogState> change)
    {
        var copy = (CatalogState)MemberwiseClone();
        change(copy);
        return copy;
    }
}

/// <summary>A version of a catalog beside the serving one, with shards of its own (<see cref="Incarnation"/>):
/// being built by a re-embedding, or the previous version kept for a rollback.</summary>
[GenerateSerializer, Immutable, Alias("Catalogs.ShadowVersion")]
public sealed record ShadowVersion(
    [property: Id(0)] CatalogSpec Spec,
    [property: Id(1)] string Incarnation,
    [property: Id(2)] long Version,
    [property: Id(3)] bool Building);
