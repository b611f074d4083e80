using Catalogs.Evaluation;

namespace Catalogs.Evaluation.Tests;

/// <summary>The metrics against rankings worked out by hand.</summary>
public class RetrievalEvaluationTests
{
    static LabeledVector V(string key, string label, float x, float y) => new(key, label, [x, y]);

    [Fact]
    public void Precision_recall_and_average_precision_match_a_ranking_worked_out_by_hand()
    {
        // Angles from the query (1, 0): a1 0°, b1 10°, a2 20°, b2 30°, a3 80°.
        LabeledVector[] gallery =
        [
            V("a1", "a", 1f, 0f), V("b1", "b", MathF.Cos(0.1745f), MathF.Sin(0.1745f)),
            V("a2", "a", MathF.Cos(0.349f), MathF.Sin(0.349f)), V("b2", "b", MathF.Cos(0.5236f), MathF.Sin(0.5236f)),
            V("a3", "a", MathF.Cos(1.396f), MathF.Sin(1.396f)),
        ];
        var report = RetrievalEvaluation.Evaluate([V("q", "a", 2f, 0f)], gallery);
        // Ranking a1 b1 a2 b2 a3: relevant at ranks 1, 3, 5 → AP = (1/1 + 2/3 + 3/5) / 3.
        Assert.Equal(1.0, report.PrecisionAt1);
        Assert.Equal(3 / 5.0, report.PrecisionAt5, 9);
        Assert.Equal(3 / 10.0, report.PrecisionAt10, 9);
        Assert.Equal(1.0, report.RecallAt10, 9);
        Assert.Equal((1 + 2 / 3.0 + 3 / 5.0) / 3, report.MeanAveragePrecision, 9);
        Assert.Empty(report.Confusions);
    }

    static LabeledVector At(string key, string label, float degrees) =>
        V(key, label, MathF.Cos(degrees * MathF.PI / 180), MathF.Sin(degrees * MathF.PI / 180));

    [Fact]
    public void Leave_one_out_leaves_the_query_out_and_confusions_name_the_labels_mixed_up()
    {
        LabeledVector[] all = [At("a1", "a", 0), At("b1", "b", 20), At("a2", "a", 50), At("b2", "b", 28)];
        var report = RetrievalEvaluation.Evaluate(all, all, leaveOneOut: true);
        // a1 → b1 b2 a2; a2 → b2 b1 a1; b1 → b2 …; b2 → b1 …: the 'a's find their one other 'a' third.
        Assert.Equal(0.5, report.PrecisionAt1);
        Assert.Equal([new ConfusedPair("a", "b", 2)], report.Confusions);
        Assert.Equal(["a", "b"], report.Classes.Select(c => c.Label));
        Assert.Equal((0.0, 1.0), (report.Classes[0].PrecisionAt1, report.Classes[1].PrecisionAt1));
        Assert.Equal(1.0, report.RecallAt10, 9); // each query's one relevant item is in its top 10
        Assert.Equal((1 / 3.0 + 1 / 3.0 + 1 + 1) / 4, report.MeanAveragePrecision, 9);
    }

    [Fact]
    public void Samples_take_each_label_in_turn_and_carry_the_top_of_their_ranking()
    {
        LabeledVector[] all =
        [
            At("a2", "a", 0), At("a1", "a", 40), At("a3", "a", 90), At("b1", "b", 20), At("c1", "c", 60),
        ];
        var report = RetrievalEvaluation.Evaluate(all, all, leaveOneOut: true, samples: 4, sampleTop: 2);
        // One per label in label order (by key within a label), then the labels with more: a1 b1 c1, then a2.
        Assert.Equal(["a1", "b1", "c1", "a2"], report.Samples.Select(s => s.Key));
        // a1 at 40°: b1 and c1 20° away, ties broken by key.
        Assert.Equal(["b1", "c1"], report.Samples[0].Top.Select(m => m.Key));
        Assert.Equal(MathF.Cos(20 * MathF.PI / 180), report.Samples[0].Top[0].Score, 5);
        Assert.Equal(["a1", "a2"], report.Samples[1].Top.Select(m => m.Key)); // b1 at 20°: both 'a's 20° away
        Assert.Empty(RetrievalEvaluation.Evaluate(all, all, leaveOneOut: true).Samples);
    }

    [Fact]
    public void The_split_is_deterministic_and_near_the_asked_share()
    {
        var paths = Enumerable.Range(0, 10_000).Select(i => $"images/x/{i}.jpg").ToArray();
        int queries = paths.Count(p => RetrievalEvaluation.IsQuery(p));
        Assert.InRange(queries, 1800, 2200);
        var again = paths.Select(p => new string(p.ToCharArray())).Where(p => RetrievalEvaluation.IsQuery(p));
        Assert.Equal(paths.Where(p => RetrievalEvaluation.IsQuery(p)), again);
        Assert.Throws<ArgumentException>(() => RetrievalEvaluation.Evaluate([], []));
    }
}
