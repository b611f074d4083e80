namespace Catalogs.ApiHost.Demo;

/// <summary>The demo catalogs seeded on first start (section <c>Demo</c>).</summary>
public sealed class DemoOptions
{
    public const string Section = "Demo";

    public bool Enabled { get; set; } = true;

    /// <summary>Folder with <c>clothing/</c> and <c>food/</c> (each with labels.csv); quietly skipped when
    /// absent.</summary>
    public string DatasetsPath { get; set; } = "../shared/datasets";

    public int Shards { get; set; } = 2;
}
