namespace Catalogs.Grains.Catalogs;

[GenerateSerializer, Alias("Catalogs.TenantState")]
public sealed class TenantState
{
    [Id(0)] public SortedSet<string> Catalogs { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Null until the operator creates the tenant (a tenant served without keys has catalogs only).</summary>
    [Id(1)] public TenantSettings? Settings { get; set; }

    [Id(2)] public DateTimeOffset CreatedAt { get; set; }

    [Id(3)] public Dictionary<string, StoredKey> Keys { get; set; } = new(StringComparer.Ordinal);
}

[GenerateSerializer, Alias("Catalogs.StoredKey")]
public sealed record StoredKey([property: Id(0)] ApiKeyInfo Info, [property: Id(1)] byte[] SecretHash);
