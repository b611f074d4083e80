namespace Catalogs.Grains.Catalogs;

[GenerateSerializer, Alias("Catalogs.TenantState")]
public sealed class TenantState
{
    [Id(0)] public SortedSet<string> Catalogs { get; set; } = new(StringComparer.Ordinal);
}
