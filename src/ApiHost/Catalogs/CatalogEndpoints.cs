using Catalogs.ApiHost.Access;
using Catalogs.ApiHost.Infrastructure;
using Catalogs.Grains;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Catalogs.ApiHost.Catalogs;

/// <summary>Create, configure, inspect, list and delete catalogs.</summary>
public static class CatalogEndpoints
{
    public static RouteGroupBuilder MapCatalogEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/catalogs").WithTags("Catalogs");
        group.MapPut("/{catalog}", PutAsync)
            .WithSummary("Create a catalog or change its configuration")
            .WithDescription("Minimal body: {\"encoder\": {\"model\": \"mobilenetv2-12-int8.onnx\", \"output\": " +
                "\"464_quantized\"}, \"metric\": \"cosine\", \"shards\": 2}. " +
                "Encoder fields left out take the model's defaults. A catalog that holds products and gets " +
                    "another encoder, metric, index or shard count re-embeds into a new version in the " +
                    "background (its stored images through the new encoder, or its vectors copied) while the " +
                    "current one serves, then switches; `reembedding` in the answer shows the progress. 409 when " +
                    "the new encoder cannot re-embed products stored without an image, or while a re-embedding " +
                    "runs. " +
                "matchingEngine {index, indexEndpoint, deployedIndexId, queryRouting} mirrors the catalog into a " +
                    "Vertex AI Vector Search STREAM_UPDATE index; it may change at any time.")
            .Accepts<CatalogDraft>("application/json")
            .ProducesProblem(400).ProducesProblem(403).ProducesProblem(409).ProducesProblem(422).ProducesProblem(503)
            .RequireScope(ApiKeyScopes.Admin);
        group.MapGet("/{catalog}", GetAsync).WithSummary("A catalog's configuration and stats").ProducesProblem(404)
            .RequireScope(ApiKeyScopes.Search);
        group.MapGet("/", ListAsync).WithSummary("All catalogs").RequireScope(ApiKeyScopes.Search);
        group.MapDelete("/{catalog}", DeleteAsync).WithSummary("Delete a catalog and its products")
            .ProducesProblem(404).RequireScope(ApiKeyScopes.Admin);
        group.MapPost("/{catalog}/matchingEngine:export", ExportAsync)
            .WithSummary("Write the catalog as Vertex JSONL to gs://bucket/prefix and load it into the bound index: " +
                "whole (complete overwrite), or with delta the changes since the last export")
            .Accepts<ExportDto>("application/json").ProducesProblem(404).ProducesProblem(422).ProducesProblem(503)
            .RequireScope(ApiKeyScopes.Admin);
        group.MapPost("/{catalog}/reembedding:cancel", CancelReembeddingAsync)
            .WithSummary("Stop the running re-embedding and drop what it built; the serving version stays")
            .ProducesProblem(404).ProducesProblem(409).RequireScope(ApiKeyScopes.Admin);
        group.MapPost("/{catalog}/rollback", RollBackAsync)
            .WithSummary("Serve the previous version again (kept up to date since the switch, so at once); the " +
                "version it replaces becomes the previous one")
            .ProducesProblem(404).ProducesProblem(409).RequireScope(ApiKeyScopes.Admin);
        group.MapDelete("/{catalog}/previous", RetirePreviousAsync)
            .WithSummary("Drop the previous version: writes go to one version again, a rollback is no longer possible")
            .ProducesProblem(404).ProducesProblem(409).RequireScope(ApiKeyScopes.Admin);
        group.MapPost("/{catalog}/training", StartTrainingAsync)
            .WithSummary("Fit an encoder head to the catalog's labels in the background")
            .WithDescription("Body: {\"labelNamespace\": \"category\", \"kind\": \"lda\" | \"trained\" | " +
                "\"pcaWhitening\", \"dimensions\": 64, \"epochs\": 60, \"apply\": true}. Each product's first " +
                "token in the namespace is its label (at least 2 labels, 5 products each). The result, " +
                "`encoder` in GET /training, is the catalog's encoder with the fitted `head`: configure the " +
                "catalog with it (a re-embedding), or send apply: true to do so when the fit is done.")
            .Accepts<TrainingRequest>("application/json")
            .ProducesProblem(400).ProducesProblem(404).ProducesProblem(409).ProducesProblem(422)
            .RequireScope(ApiKeyScopes.Admin);
        group.MapGet("/{catalog}/training", GetTrainingAsync)
            .WithSummary("The latest training: phase, epoch, loss, validation precision@10, the tuned encoder")
            .ProducesProblem(404).RequireScope(ApiKeyScopes.Search);
        group.MapPost("/{catalog}/training:cancel", CancelTrainingAsync)
            .WithSummary("Cancel the running training (the serving encoder stays)")
            .ProducesProblem(404).ProducesProblem(409).RequireScope(ApiKeyScopes.Admin);
        group.MapPost("/{catalog}/evaluation", StartEvaluationAsync)
            .WithSummary("Measure the catalog's retrieval on its own labels in the background (catalogs eval's " +
                "figures on the vectors it serves)")
            .WithDescription("Body: {\"labelNamespace\": \"category\", \"split\": \"hash\" | " +
                "\"leaveOneOut\", \"queryPercent\": 20}. GET /evaluation returns the report: precision@1/5/10, " +
                "recall@10, mAP, per class, the most confused labels, sample queries.")
            .Accepts<EvaluationRequest>("application/json")
            .ProducesProblem(400).ProducesProblem(404).ProducesProblem(409).ProducesProblem(422)
            .RequireScope(ApiKeyScopes.Admin);
        group.MapGet("/{catalog}/evaluation", GetEvaluationAsync)
            .WithSummary("The latest evaluation and its report").ProducesProblem(404)
            .RequireScope(ApiKeyScopes.Search);
        group.MapGet("/{catalog}/sync/dead-letters", DeadLettersAsync)
            .WithSummary("Changes Matching Engine rejected (never retried; shard stats count them)")
                .ProducesProblem(404).RequireScope(ApiKeyScopes.Admin);
        return group;
    }

    public sealed record ExportDto(string? GcsUri, bool? Delta);

    static async Task<Ok<ExportResult>> ExportAsync(string catalog, HttpRequest request, CatalogGateway gateway,
        CancellationToken ct)
    {
        var grain = gateway.Catalog(catalog);
        var dto = await RequestReader.ReadJsonAsync<ExportDto>(request, "The export request");
        if (string.IsNullOrWhiteSpace(dto.GcsUri))
            throw CatalogRequestException.Malformed("gcsUri (gs://bucket/prefix) is required.");
        return TypedResults.Ok(await grain.Export(dto.GcsUri, dto.Delta ?? false, ct));
    }

    static async Task<Ok<DeadLetter[]>> DeadLettersAsync(string catalog, CatalogGateway gateway, CancellationToken ct)
    {
        return TypedResults.Ok(await gateway.Catalog(catalog).GetDeadLetters(ct));
    }

    static async Task<Results<Created<CatalogView>, Ok<CatalogView>>> PutAsync(string catalog, HttpRequest request,
        CatalogGateway gateway, CancellationToken ct)
    {
        var grain = gateway.Catalog(catalog);
        var draft = await RequestReader.ReadJsonAsync<CatalogDraft>(request, "The catalog configuration");
        var info = await grain.Configure(draft, ct);
        var view = CatalogView.From(info);
        return info.Created ? TypedResults.Created($"/v1/catalogs/{catalog}", view) : TypedResults.Ok(view);
    }

    static async Task<Ok<CatalogView>> GetAsync(string catalog, CatalogGateway gateway, CancellationToken ct) =>
        TypedResults.Ok(CatalogView.From(await gateway.Catalog(catalog).GetInfo(ct) ?? throw NotFound(catalog)));

    static async Task<Ok<CatalogListView>> ListAsync(CatalogGateway gateway, CancellationToken ct)
    {
        var names = await gateway.TenantGrain.List(ct);
        var infos = await Task.WhenAll(names.Select(n => gateway.Catalog(n).GetInfo(ct)));
        return TypedResults.Ok(new CatalogListView(infos.OfType<CatalogInfo>().Select(CatalogView.From).ToArray()));
    }

    static async Task<Ok<CatalogView>> CancelReembeddingAsync(string catalog, CatalogGateway gateway,
        CancellationToken ct) =>
        TypedResults.Ok(CatalogView.From(await gateway.Catalog(catalog).CancelReembedding(ct)));

    static async Task<Ok<CatalogView>> RollBackAsync(string catalog, CatalogGateway gateway, CancellationToken ct) =>
        TypedResults.Ok(CatalogView.From(await gateway.Catalog(catalog).RollBack(ct)));

    static async Task<Ok<CatalogView>> RetirePreviousAsync(string catalog, CatalogGateway gateway,
        CancellationToken ct) => TypedResults.Ok(CatalogView.From(await gateway.Catalog(catalog).RetirePrevious(ct)));

    static async Task<Accepted<TrainingStatus>> StartTrainingAsync(string catalog, HttpRequest request,
        CatalogGateway gateway, CancellationToken ct)
    {
        var grain = gateway.Catalog(catalog);
        var body = await RequestReader.ReadJsonAsync<TrainingRequest>(request, "The training request");
        return TypedResults.Accepted($"/v1/catalogs/{catalog}/training", await grain.StartTraining(body, ct));
    }

    static async Task<Ok<TrainingStatus>> GetTrainingAsync(string catalog, CatalogGateway gateway,
        CancellationToken ct) => TypedResults.Ok(await gateway.Catalog(catalog).GetTraining(ct)
            ?? throw CatalogRequestException.NotFound($"Catalog '{catalog}' has had no training."));

    static async Task<Ok<TrainingStatus>> CancelTrainingAsync(string catalog, CatalogGateway gateway,
        CancellationToken ct) => TypedResults.Ok(await gateway.Catalog(catalog).CancelTraining(ct));

    static async Task<Accepted<EvaluationView>> StartEvaluationAsync(string catalog, HttpRequest request,
        CatalogGateway gateway, CancellationToken ct)
    {
        var grain = gateway.Catalog(catalog);
        var body = await RequestReader.ReadJsonAsync<EvaluationRequest>(request, "The evaluation request");
        return TypedResults.Accepted($"/v1/catalogs/{catalog}/evaluation",
            EvaluationView.From(await grain.StartEvaluation(body, ct)));
    }

    static async Task<Ok<EvaluationView>> GetEvaluationAsync(string catalog, CatalogGateway gateway,
        CancellationToken ct) => TypedResults.Ok(EvaluationView.From(await gateway.Catalog(catalog).GetEvaluation(ct)
            ?? throw CatalogRequestException.NotFound($"Catalog '{catalog}' has had no evaluation.")));

    /// <summary>An evaluation with its report as JSON (the figures of catalogs eval's eval.json).</summary>
    public sealed record EvaluationView(JobPhase Phase, EvaluationRequest Request, int Products,
        DateTimeOffset StartedAt, DateTimeOffset? FinishedAt, long CatalogVersion, string? Error,
        System.Text.Json.Nodes.JsonNode? Report)
    {
        public static EvaluationView From(EvaluationStatus s) => new(s.Phase, s.Request, s.Products, s.StartedAt,
            s.FinishedAt, s.CatalogVersion, s.Error,
            s.ReportJson is null ? null : System.Text.Json.Nodes.JsonNode.Parse(s.ReportJson));
    }

    static async Task<NoContent> DeleteAsync(string catalog, CatalogGateway gateway, CancellationToken ct) =>
        await gateway.Catalog(catalog).Drop(ct) ? TypedResults.NoContent() : throw NotFound(catalog);

    public static CatalogRequestException NotFound(string catalog) =>
        CatalogRequestException.NotFound($"Catalog '{catalog}' does not exist.");
}
