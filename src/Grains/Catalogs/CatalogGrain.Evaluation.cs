using System.Text.Json;
using System.Text.Json.Serialization;
using Catalogs.Evaluation;
using Microsoft.Extensions.Logging;

namespace Catalogs.Grains.Catalogs;

/// <summary>
/// <c>catalogs eval</c> as a job on a live catalog: its products' labels from a restrict namespace, the vectors it
/// serves, ranked exhaustively on the thread pool (src/Evaluation), the report kept with the catalog's state.
/// </summary>
public sealed partial class CatalogGrain
{
    public const int MinEvaluationQueryPercent = 1, MaxEvaluationQueryPercent = 50;
    static readonly JsonSerializerOptions ReportJson = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };
    bool evaluating;

    public async Task<EvaluationStatus> StartEvaluation(EvaluationRequest request, CancellationToken cancellationToken)
    {
        using var shared = await gate.EnterSharedAsync(cancellationToken);
        var spec = Spec();
        if (evaluating) throw CatalogRequestException.Conflict("An evaluation runs in this catalog already.");
        if (string.IsNullOrWhiteSpace(request.LabelNamespace))
            throw CatalogRequestException.Malformed("labelNamespace (the restrict namespace holding the labels) is " +
                "required.");
        Defined(request.Split, "split");
        if (request.QueryPercent is < MinEvaluationQueryPercent or > MaxEvaluationQueryPercent)
            throw Invalid($"queryPercent must be between {MinEvaluationQueryPercent} and " +
                $"{MaxEvaluationQueryPercent}.");
        evaluating = true;
        try
        {
            var labeled = await LabeledProductsAsync(spec, request.LabelNamespace, cancellationToken);
            if (labeled.Count < 2)
                throw Invalid($"{labeled.Count} products of catalog '{Name}' have a token in restrict namespace " +
                    $"'{request.LabelNamespace}'; an evaluation needs at least 2.");
            var vectors = labeled.Select(p => new LabeledVector(p.Product.Id, p.Label, p.Product.FeatureVector))
                .ToArray();
            var (queries, gallery) = request.Split == EvaluationSplit.LeaveOneOut ? (vectors, vectors)
                : (vectors.Where(v => RetrievalEvaluation.IsQuery(v.Key, request.QueryPercent)).ToArray(),
                    vectors.Where(v => !RetrievalEvaluation.IsQuery(v.Key, request.QueryPercent)).ToArray());
            if (queries.Length == 0 || gallery.Length == 0)
                throw Invalid("The split leaves no queries or no gallery: use split leaveOneOut.");
            var status = new EvaluationStatus(JobPhase.Running, request, labeled.Count, DateTimeOffset.UtcNow,
                CatalogVersion: state.State.Version);
            await PublishAsync(state.State.With(s => s.Evaluation = status), cancellationToken);
            _ = EvaluateAsync(status, queries, gallery, request.Split == EvaluationSplit.LeaveOneOut);
            return status;
        }
        catch
        {
            evaluating = false;
            throw;
        }
    }

    public Task<EvaluationStatus?> GetEvaluation(CancellationToken cancellationToken)
    {
        Spec();
        return Task.FromResult(state.State.Evaluation);
    }

    async Task EvaluateAsync(EvaluationStatus status, LabeledVector[] queries, LabeledVector[] gallery,
        bool leaveOneOut)
    {
        await Task.Yield(); // the caller's turn goes on
        try
        {
            DelayDeactivation(TimeSpan.FromMinutes(30));
            var report = await Task.Run(() => RetrievalEvaluation.Evaluate(queries, gallery, leaveOneOut,
                samples: 24));
            status = status with
            {
                Phase = JobPhase.Done,
                FinishedAt = DateTimeOffset.UtcNow,
                ReportJson = JsonSerializer.Serialize(report, ReportJson),
            };
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "Evaluation of {Catalog} failed", this.GetPrimaryKeyString());
            status = status with { Phase = JobPhase.Failed, FinishedAt = DateTimeOffset.UtcNow, Error = ex.Message };
        }
        evaluating = false;
        await PublishJobEndAsync(s => s.Evaluation = status, "evaluation");
    }
}
