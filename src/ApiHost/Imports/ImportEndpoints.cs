using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using Catalogs.ApiHost.Access;
using Catalogs.ApiHost.Catalogs;
using Catalogs.ApiHost.Infrastructure;
using Catalogs.Grains;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using nietras.SeparatedValues;

namespace Catalogs.ApiHost.Imports;

/// <summary>Bulk imports of a catalog: start one from an upload or a server-side folder, follow its progress
/// (polling or server-sent events), download its rows' errors, cancel it.</summary>
public static class ImportEndpoints
{
    public sealed record FolderImportDto(string? Folder);

    public sealed record ImportListView(ImportView[] Imports);

    public static RouteGroupBuilder MapImportEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/catalogs/{catalog}/imports").WithTags("Imports")
            .RequireScope(ApiKeyScopes.Write);
        group.MapPost("/", CreateAsync)
            .WithSummary("Start a bulk import")
            .WithDescription("The body is a zip of images (application/zip) with an optional manifest.csv or " +
                "manifest.jsonl at its root (without one, every image is a product: id = its path without the " +
                "extension, '/' → '_', restrict 'folder' = its top folder); or a manifest alone (text/csv or " +
                "application/x-ndjson) naming image URLs; or {\"folder\": name} (application/json) for a folder " +
                "the operator configured (Imports:Folders). CSV columns: " + ImportManifest.CsvColumns + ". " +
                "Answers 202 with the job; rows that cannot be imported are reported one by one while the rest " +
                "import, and an unchanged product (same image by SHA-256, same datapoint) is not written again.")
            .Accepts<FolderImportDto>("application/json", "application/zip", "application/x-zip-compressed", "text/csv",
                "application/x-ndjson", "application/jsonl", "application/jsonlines")
            .ProducesProblem(400).ProducesProblem(404).ProducesProblem(413).ProducesProblem(415).ProducesProblem(422);
        group.MapGet("/", List).WithSummary("The catalog's imports, newest first").ProducesProblem(404);
        group.MapGet("/{id}", Get).WithSummary("An import's progress: done, failed, rate, ETA").ProducesProblem(404);
        group.MapGet("/{id}/events", Events)
            .WithSummary("An import's progress as server-sent events ('progress', every half second, until it ends)")
            .ProducesProblem(404);
        group.MapGet("/{id}/errors", Errors)
            .WithSummary("The rows that failed, as CSV (row, id, error)").Produces(200, contentType: "text/csv")
            .ProducesProblem(404);
        group.MapPost("/{id}:cancel", Cancel).WithSummary("Cancel an import (products already imported stay)")
            .ProducesProblem(404).ProducesProblem(409);
        return group;
    }

    static async Task<Accepted<ImportView>> CreateAsync(string catalog, string? name, HttpRequest request,
        CatalogGateway gateway, ImportJobs jobs, IOptions<ImportOptions> options, CancellationToken ct)
    {
        var grain = gateway.Catalog(catalog);
        if (await grain.GetInfo(ct) is null) throw CatalogEndpoints.NotFound(catalog);
        var media = request.ContentType is { } type ? type.Split(';')[0].Trim().ToLowerInvariant() : "";
        var kind = media switch
        {
            "application/zip" or "application/x-zip-compressed" => ImportSourceKind.Zip,
            "text/csv" => ImportSourceKind.Csv,
            "application/x-ndjson" or "application/jsonl" or "application/jsonlines" => ImportSourceKind.Jsonl,
            "application/json" => ImportSourceKind.Folder,
            _ => throw CatalogRequestException.UnsupportedMedia("Send a zip (application/zip), a manifest (text/csv " +
                "or application/x-ndjson) or {\"folder\": name} (application/json)."),
        };
        Stream? upload = null;
        string source;
        if (kind == ImportSourceKind.Folder)
        {
            var dto = await RequestReader.ReadJsonAsync<FolderImportDto>(request, "The import request");
            source = dto.Folder ?? throw CatalogRequestException.Malformed("folder is required.");
            if (!options.Value.Folders.ContainsKey(source))
                throw CatalogRequestException.Invalid(
                    $"There is no import folder '{RequestValidator.Shorten(source)}'" +
                    $" (the operator names them in Imports:Folders).");
        }
        else
        {
            // Uploads may be far larger than other requests.
            if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
                limit.MaxRequestBodySize = options.Value.MaxUploadBytes;
            upload = request.Body;
            source = Path.GetFileName(name ?? "") is { Length: > 0 } given ? RequestValidator.Shorten(given)
                : kind switch
                {
                    ImportSourceKind.Zip => "upload.zip",
                    ImportSourceKind.Csv => "manifest.csv",
                    _ => "manifest.jsonl",
                };
        }
        var job = await jobs.CreateAsync(gateway.Tenant, catalog, kind, source,
            Callers.QuotasOf(request.HttpContext.User), upload, ct);
        return TypedResults.Accepted($"/v1/catalogs/{catalog}/imports/{job.Id}", job.View());
    }

    static ImportJob Job(string catalog, string id, CatalogGateway gateway, ImportJobs jobs)
    {
        RequestValidator.CatalogNameIsValid(catalog);
        return jobs.Find(gateway.Tenant, catalog, id)
            ?? throw CatalogRequestException.NotFound($"Import '{RequestValidator.Shorten(id)}' does not exist in " +
                $"catalog '{catalog}'.");
    }

    static async Task<Ok<ImportListView>> List(string catalog, CatalogGateway gateway, ImportJobs jobs,
        CancellationToken ct)
    {
        if (await gateway.Catalog(catalog).GetInfo(ct) is null) throw CatalogEndpoints.NotFound(catalog);
        return TypedResults.Ok(new ImportListView(jobs.Of(gateway.Tenant, catalog).Select(j => j.View()).ToArray()));
    }

    static Ok<ImportView> Get(string catalog, string id, CatalogGateway gateway, ImportJobs jobs) =>
        TypedResults.Ok(Job(catalog, id, gateway, jobs).View());

    static ServerSentEventsResult<ImportView> Events(string catalog, string id, CatalogGateway gateway,
        ImportJobs jobs, CancellationToken ct) =>
        TypedResults.ServerSentEvents(Progress(Job(catalog, id, gateway, jobs), ct));

    static async IAsyncEnumerable<SseItem<ImportView>> Progress(ImportJob job,
        [EnumeratorCancellation] CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var view = job.View();
            yield return new SseItem<ImportView>(view, "progress");
            if (view.Finished) yield break;
            await Task.Delay(500, ct);
        }
    }

    static FileContentHttpResult Errors(string catalog, string id, CatalogGateway gateway, ImportJobs jobs)
    {
        var job = Job(catalog, id, gateway, jobs);
        var text = new StringWriter();
        text.WriteLine("row,id,error");
        using (var csv = Sep.New(',').Writer(o => o with { WriteHeader = false, Escape = true }).To(text))
            foreach (var e in job.Errors())
            {
                using var row = csv.NewRow();
                row["row"].Format(e.Row);
                row["id"].Set(e.Id ?? "");
                row["error"].Set(e.Error);
            }
        return TypedResults.File(System.Text.Encoding.UTF8.GetBytes(text.ToString()), "text/csv",
            $"import-{job.Id}-errors.csv");
    }

    static Accepted<ImportView> Cancel(string catalog, string id,
        CatalogGateway gateway, ImportJobs jobs)
    {
        var job = Job(catalog, id, gateway, jobs);
        if (job.View().Finished)
            throw CatalogRequestException.Conflict($"Import '{job.Id}' has already ended " +
                $"({SpecEnumConverter<ImportJobState>.Name(job.File.State)}).");
        job.RequestCancel();
        // Not running anywhere yet: cancelled here and now (a host that runs it cancels it within a second).
        if (job.File.State == ImportJobState.Queued && job.TryOwn())
        {
            job.Finish(ImportJobState.Cancelled);
            job.Disown();
        }
        return TypedResults.Accepted($"/v1/catalogs/{catalog}/imports/{job.Id}", job.View());
    }
}
