using System.CommandLine;
using System.Net.Http.Headers;
using Catalogs.Training;
using Spectre.Console;

namespace Catalogs.Cli;

/// <summary><c>catalogs</c>: commands that drive a Catalogs deployment through its REST API.</summary>
public static class CatalogsCommands
{
    /// <summary>Runs the command line; <paramref name="connect"/> makes the API client (tests pass one onto an
    /// in-memory host).</summary>
    public static Task<int> RunAsync(string[] args, IAnsiConsole console,
        Func<Uri, HttpClient>? connect = null) =>
        Build(console, connect ?? (api => new HttpClient { BaseAddress = api })).Parse(args).InvokeAsync();

    static RootCommand Build(IAnsiConsole console, Func<Uri, HttpClient> connect)
    {
        var api = new Option<string>("--api")
        {
            Description = "The API's base URL (env CATALOGS_API)",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("CATALOGS_API") ?? "http://localhost:5080/",
            Recursive = true,
        };
        api.Validators.Add(result =>
        {
            if (BaseAddress(result.GetValueOrDefault<string>()) is null)
                result.AddError("--api must be an absolute http or https URL, e.g. http://localhost:5080/.");
        });
        var key = new Option<string?>("--key")
        {
            Description = "API key with the write scope (env CATALOGS_API_KEY; none in Development)",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("CATALOGS_API_KEY"),
            Recursive = true,
        };
        var root = new RootCommand("Catalogs: visual similarity search over product catalogs") { api, key };

        var catalog = new Argument<string>("catalog") { Description = "The catalog to import into" };
        var source = new Argument<string>("source")
        {
            Description = "A folder of images (zipped on the way; a manifest.csv or manifest.jsonl inside is used), " +
                "a zip, or a manifest (.csv, .jsonl) of image URLs",
        };
        var detach = new Option<bool>("--detach") { Description = "Start the import and print its id; do not wait" };
        var errors = new Option<string?>("--errors") { Description = "Write the failed rows (CSV) to this file" };
        var import = new Command("import", "Bulk-import products into a catalog, with a progress bar")
        {
            catalog, source, detach, errors,
        };
        // The API client of a parsed command line: its address, and its key as the bearer token.
        HttpClient Client(ParseResult parse)
        {
            var http = connect(BaseAddress(parse.GetValue(api))!);
            if (parse.GetValue(key) is { Length: > 0 } k)
                http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", k);
            return http;
        }
        import.SetAction((parse, ct) =>
        {
            return new ImportCommand(Client(parse), console).RunAsync(parse.GetValue(catalog)!, parse.GetValue(source)!,
                parse.GetValue(detach), parse.GetValue(errors), ct);
        });
        root.Subcommands.Add(import);

        var folder = new Argument<string>("folder") { Description = "A folder with labels.csv (path,label[,split])" };
        var evalCatalog = new Option<string>("--catalog")
        {
            Description = "The catalog to embed into (its encoder is measured)",
            Required = true,
        };
        var config = new Option<string?>("--config") { Description = "A catalog config (JSON) to create it with" };
        var leaveOneOut = new Option<bool>("--leave-one-out") { Description = "Every image queries all others" };
        var output = new Option<string>("--out")
        {
            Description = "Where eval.json and eval.md go",
            DefaultValueFactory = _ => "eval-report",
        };
        var heads = new Option<HeadKind[]>("--heads")
        {
            Description = "Also fit these heads on the gallery and measure them on the queries (pcaWhitening, lda, " +
                "trained)",
            AllowMultipleArgumentsPerToken = true,
            CustomParser = result =>
            {
                var kinds = new List<HeadKind>();
                foreach (var token in result.Tokens)
                    if (Enum.TryParse<HeadKind>(token.Value, true, out var kind)) kinds.Add(kind);
                    else result.AddError($"'{token.Value}' is not a head: pcaWhitening, lda or trained.");
                return [.. kinds];
            },
        };
        var headDimensions = new Option<int>("--head-dimensions")
        {
            Description = "The heads' output dimensions (LDA: at most labels − 1)",
            DefaultValueFactory = _ => 256,
        };
        headDimensions.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() is < 1 or > 4096)
                result.AddError("--head-dimensions must be between 1 and 4096.");
        });
        var lifts = new Option<FrozenLift[]>("--lifts")
        {
            Description = "Also measure these lifts of frozen features on the encoder and each head: qe (αQE), dba " +
                "(database-side augmentation); both given: also together",
            AllowMultipleArgumentsPerToken = true,
        };
        var colorWeights = new Option<float[]>("--color-weights")
        {
            Description = "Also re-rank each query's 50 best matches by colour with these weights (0–1), as " +
                "searches with colorWeight do: (1 − w) × visual distance + w × colour distance",
            AllowMultipleArgumentsPerToken = true,
        };
        colorWeights.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<float[]>()?.Any(w => !(w > 0 && w <= 1)) == true)
                result.AddError("--color-weights must lie in (0, 1].");
        });
        var concat = new Option<string[]>("--concat-catalogs")
        {
            Description = "Append each image's vector in these catalogs (earlier eval runs of the same folder with " +
                "other encoders, e.g. other layers) to its vector, each unit length: measures a concatenation",
            AllowMultipleArgumentsPerToken = true,
        };
        var eval = new Command("eval", "Measure retrieval quality on a labeled image folder")
        {
            folder, evalCatalog, config, leaveOneOut, output, heads, headDimensions, lifts, colorWeights, concat,
        };
        eval.SetAction((parse, ct) =>
        {
            var options = new EvalOptions(parse.GetValue(folder)!, parse.GetValue(evalCatalog)!,
                parse.GetValue(config), parse.GetValue(leaveOneOut), parse.GetValue(output)!,
                parse.GetValue(heads) ?? [], parse.GetValue(headDimensions), parse.GetValue(lifts) ?? [],
                parse.GetValue(colorWeights) ?? [], parse.GetValue(concat) ?? []);
            return new EvalCommand(Client(parse), console).RunAsync(options, ct);
        });
        root.Subcommands.Add(eval);
        return root;
    }

    /// <summary>The API's address as a base for relative paths (a path prefix kept: it ends with '/').</summary>
    static Uri? BaseAddress(string? url) =>
        Uri.TryCreate(url?.EndsWith('/') == false ? url + "/" : url, UriKind.Absolute, out var uri)
            && uri.Scheme is "http" or "https" ? uri : null;
}
