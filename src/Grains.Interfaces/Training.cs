using System.Text.Json.Serialization;

namespace Catalogs.Grains;

/// <summary>The head a training fits: LDA (closed form, the best measured on the shared datasets), a trained feature
/// layer (softmax cross-entropy with margin + proxy-anchor, early stopping), or PCA-whitening (unsupervised).</summary>
[JsonConverter(typeof(SpecEnumConverter<TrainingKind>))]
public enum TrainingKind { Lda, Trained, PcaWhitening }

/// <summary>Where a background job of a catalog (a training, an evaluation) stands.</summary>
[JsonConverter(typeof(SpecEnumConverter<JobPhase>))]
public enum JobPhase { Running, Done, Failed, Cancelled }

/// <summary>A training of a catalog's encoder head: the labels are each product's first token in restrict namespace
/// <c>LabelNamespace</c>; <c>Apply</c> re-embeds the catalog with the result once it is fitted.</summary>
[GenerateSerializer, Immutable, Alias("Catalogs.TrainingRequest")]
public sealed record TrainingRequest(
    [property: Id(0)] string LabelNamespace,
    [property: Id(1)] TrainingKind Kind = TrainingKind.Lda,
    [property: Id(2)] int? Dimensions = null,
    [property: Id(3)] int? Epochs = null,
    [property: Id(4)] bool Apply = false);

/// <summary>A training's state: what it fits on (products with a label, labels), how far it is (a trained head's
/// epoch, loss and held-out precision@10), and its result, <c>Encoder</c>: the catalog's encoder with the fitted
/// head (<c>Encoder.Head</c>), to configure the catalog with (or applied already with <c>Apply</c>).</summary>
[GenerateSerializer, Immutable, Alias("Catalogs.TrainingStatus")]
public sealed record TrainingStatus(
    [property: Id(0)] JobPhase Phase,
    [property: Id(1)] TrainingRequest Request,
    [property: Id(2)] int Examples,
    [property: Id(3)] int Labels,
    [property: Id(4)] DateTimeOffset StartedAt,
    [property: Id(5)] int Epoch = 0,
    [property: Id(6)] double? Loss = null,
    [property: Id(7)] double? ValidationPrecisionAt10 = null,
    [property: Id(8)] EncoderSpec? Encoder = null,
    [property: Id(9)] int? Dimensions = null,
    [property: Id(10)] DateTimeOffset? FinishedAt = null,
    [property: Id(11)] string? Error = null);

[JsonConverter(typeof(SpecEnumConverter<EvaluationSplit>))]
public enum EvaluationSplit { Hash, LeaveOneOut }

/// <summary>An evaluation of a live catalog's retrieval: labels from restrict namespace <c>LabelNamespace</c>;
/// <c>hash</c> splits the products (XxHash64 of the id % 100 below <c>QueryPercent</c> query the rest), or
/// <c>leaveOneOut</c> makes every product query all others.</summary>
[GenerateSerializer, Immutable, Alias("Catalogs.EvaluationRequest")]
public sealed record EvaluationRequest(
    [property: Id(0)] string LabelNamespace,
    [property: Id(1)] EvaluationSplit Split = EvaluationSplit.Hash,
    [property: Id(2)] int QueryPercent = 20);

/// <summary>An evaluation job: running, done (with its report as JSON: the figures <c>catalogs eval</c> writes to
/// eval.json), failed or cancelled.</summary>
[GenerateSerializer, Immutable, Alias("Catalogs.EvaluationStatus")]
public sealed record EvaluationStatus(
    [property: Id(0)] JobPhase Phase,
    [property: Id(1)] EvaluationRequest Request,
    [property: Id(2)] int Products,
    [property: Id(3)] DateTimeOffset StartedAt,
    [property: Id(4)] DateTimeOffset? FinishedAt = null,
    [property: Id(5)] string? ReportJson = null,
    [property: Id(6)] string? Error = null,
    [property: Id(7)] long CatalogVersion = 0);
