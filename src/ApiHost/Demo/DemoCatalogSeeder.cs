using System.Text.Json.Nodes;
using Catalogs.ApiHost.Infrastructure;
using Catalogs.Grains;

namespace Catalogs.ApiHost.Demo;

public static class DemoCatalogs
{
    public static IServiceCollection AddDemoCatalogs(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<DemoOptions>().Bind(configuration.GetSection(DemoOptions.Section));
        services.AddHostedService<DemoCatalogSeeder>();
        return services;
    }
}

/// <summary>
/// On first start, creates the demo catalogs <c>fashion</c> (clothing photos) and <c>food</c> (grocery photos) and
/// loads their images in the background, printing progress, so a newcomer can search at once. A run cut short is
/// completed on the next start (upserts are idempotent).
/// </summary>
public sealed class DemoCatalogSeeder(
    Microsoft.Extensions.Options.IOptions<DemoOptions> options, CatalogGateway gateway,
        IHostApplicationLifetime lifetime, ILogger<DemoCatalogSeeder> logger) : BackgroundService
{
    const int Chunk = 32;

    sealed record Item(string Id, string Path, string Label, string? Coarse, string? Split);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.Enabled) return;
        // Wait for the silo and the HTTP server to be up.
        var started = new TaskCompletionSource();
        using (lifetime.ApplicationStarted.Register(() =>
            started.TrySetResult())) await started.Task.WaitAsync(stoppingToken);
        var root = Path.GetFullPath(options.Value.DatasetsPath);
        try
        {
            await SeedAsync("fashion", Path.Combine(root, "clothing"), stoppingToken);
            await SeedAsync("food", Path.Combine(root, "food"), stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
        catch (Exception ex)
        {
            logger.LogError(ex, "Demo catalogs could not be loaded");
        }
    }

    async Task SeedAsync(string catalog, string folder, CancellationToken ct)
    {
        var labels = Path.Combine(folder, "labels.csv");
        if (!File.Exists(labels))
        {
            logger.LogInformation("Demo catalog '{Catalog}' skipped: {Labels} not found", catalog, labels);
            return;
        }
        var items = ReadLabels(labels);
        var grain = gateway.Catalog(catalog);
        var info = await grain.GetInfo(ct);
        if (info is not null && info.Products >= items.Count) return;
        info ??= await grain.Configure(new CatalogDraft(new EncoderDraft("mobilenetv2-12-int8.onnx",
            Output: "464_quantized"), SimilarityMetric.Cosine, null, options.Value.Shards), ct);
        Console.WriteLine($"Loading demo catalog '{catalog}': {items.Count} images from {folder}");
        int done = 0;
        foreach (var chunk in items.Chunk(Chunk))
        {
            var images = await Task.WhenAll(chunk.Select(i => File.ReadAllBytesAsync(Path.Combine(folder, i.Path),
                ct)));
            var writes = chunk.Select((item, n) => new ProductWrite(new Datapoint(item.Id, [], Restricts(item), [],
                item.Label,
                new JsonObject
                {
                    ["name"] = item.Label.Replace('-', ' '),
                    ["image"] = $"{Path.GetFileName(folder)}/{item.Path}",
                    ["label"] = item.Label,
                }.ToJsonString(),
                DateTimeOffset.UtcNow), images[n])).ToArray();
            await grain.Write(writes, ct);
            done += chunk.Length;
            if (done % (Chunk * 10) == 0
                || done == items.Count) Console.WriteLine($"  {catalog}: {done}/{items.Count}");
        }
        Console.WriteLine($"Demo catalog '{catalog}' ready: {items.Count} products.");
    }

    static Restrict[] Restricts(Item item)
    {
        var list = new List<Restrict> { new("category", [item.Label], []) };
        if (item.Coarse is not null) list.Add(new Restrict("coarse", [item.Coarse], []));
        if (item.Split is not null) list.Add(new Restrict("split", [item.Split], []));
        return list.ToArray();
    }

    static List<Item> ReadLabels(string path)
    {
        var lines = File.ReadAllLines(path);
        var header = lines[0].Split(',');
        int Col(string name) => Array.IndexOf(header, name);
        int p = Col("path"), l = Col("label"), c = Col("coarse_label"), s = Col("split");
        var rows = lines.Skip(1).Where(line => line.Length > 0).Select(line => line.Split(',')).ToList();
        // Ids: the file name where it is unique in the dataset, else the path (folders joined by '_').
        var stems = rows.Select(f => Path.GetFileNameWithoutExtension(f[p])).ToList();
        bool unique = stems.Distinct().Count() == stems.Count;
        return rows.Select((f, i) => new Item(
            unique ? stems[i] : Path.ChangeExtension(f[p], null).Replace('/', '_'),
            f[p], f[l], c >= 0 ? f[c] : null, s >= 0 ? f[s] : null)).ToList();
    }
}
