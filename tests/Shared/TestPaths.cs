namespace Catalogs.Tests;

/// <summary>Finds the repository and the shared models and datasets beside it, whatever the test's working
/// folder.</summary>
static class TestPaths
{
    public static string RepoRoot { get; } = FindRepoRoot();
    public static string Shared => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));
    public static string ModelsDirectory => Path.Combine(Shared, "models");
    public static string Model => Path.Combine(ModelsDirectory, "mobilenetv2-12-int8.onnx");
    public static string Datasets => Path.Combine(Shared, "datasets");

    /// <summary>A few dataset images, by path relative to <see cref="Datasets"/>.</summary>
    public static string Image(string relative) => Path.Combine(Datasets, relative);

    public static string NewTempDirectory(string name)
    {
        var dir = Path.Combine(Path.GetTempPath(), "catalogs-tests", name + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Catalogs.sln"))) return dir.FullName;
        throw new InvalidOperationException("Catalogs.sln not found above " + AppContext.BaseDirectory);
    }
}
