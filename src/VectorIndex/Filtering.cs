namespace Catalogs.VectorIndex;

/// <summary>A point's tokens in one namespace, as in Vertex AI Vector Search's <c>restricts</c>.</summary>
public sealed record TokenRestrict(string Namespace, IReadOnlyList<string> Allow, IReadOnlyList<string> Deny);

/// <summary>A point's numeric value in one namespace (Vertex's <c>numericRestricts</c>; ints and floats compared as
/// doubles).</summary>
public sealed record NumericValue(string Namespace, double Value);

/// <summary>What an index keeps beside each vector to filter and diversify results.</summary>
public sealed record PointAttributes(
    IReadOnlyList<TokenRestrict> Restricts,
    IReadOnlyList<NumericValue> Numeric,
    string? CrowdingAttribute)
{
    public static readonly PointAttributes None = new([], [], null);

    /// <summary>Equal content (record equality compares the lists by reference).</summary>
    public bool SameAs(PointAttributes other) =>
        CrowdingAttribute == other.CrowdingAttribute &&
        Restricts.Count == other.Restricts.Count && Numeric.Count == other.Numeric.Count &&
        Restricts.Zip(other.Restricts).All(p => p.First.Namespace == p.Second.Namespace &&
            p.First.Allow.SequenceEqual(p.Second.Allow) && p.First.Deny.SequenceEqual(p.Second.Deny)) &&
        Numeric.SequenceEqual(other.Numeric);
}

public enum NumericOp { Less, LessEqual, Equal, GreaterEqual, Greater, NotEqual }

/// <summary>A numeric condition of a query: the point's value in <paramref name="Namespace"/> <paramref name="Op"/>
/// <paramref name="Value"/>.</summary>
public sealed record NumericCondition(string Namespace, NumericOp Op, double Value);

/// <summary>
/// A query's filter with Vertex AI Vector Search semantics:
/// namespaces are ANDed; within a namespace a point passes when it has at least one token of the query's allow list
/// (when that list is non-empty), none of its tokens is on the query's deny list, and none of the query's allow tokens
/// is on the point's own deny list. A point lacking a numeric namespace that the query compares never matches.
/// </summary>
public sealed record SearchFilter(IReadOnlyList<TokenRestrict> Restricts, IReadOnlyList<NumericCondition> Numeric)
{
    public static readonly SearchFilter None = new([], []);

    public bool IsEmpty => Restricts.Count == 0 && Numeric.Count == 0;

    public bool Matches(PointAttributes point)
    {
        foreach (var q in Restricts)
        {
            TokenRestrict? p = null;
            foreach (var r in point.Restricts)
                if (r.Namespace == q.Namespace) { p = r; break; }
            var pointAllow = p?.Allow ?? [];
            if (q.Allow.Count > 0 && !Intersects(q.Allow, pointAllow)) return false;
            if (q.Deny.Count > 0 && Intersects(q.Deny, pointAllow)) return false;
            if (p is not null && p.Deny.Count > 0 && Intersects(q.Allow, p.Deny)) return false;
        }
        foreach (var c in Numeric)
        {
            bool found = false, ok = false;
            foreach (var v in point.Numeric)
            {
                if (v.Namespace != c.Namespace) continue;
                found = true;
                if (Compare(v.Value, c.Op, c.Value)) { ok = true; break; }
            }
            if (!found || !ok) return false;
        }
        return true;
    }

    static bool Compare(double value, NumericOp op, double operand) => op switch
    {
        NumericOp.Less => value < operand,
        NumericOp.LessEqual => value <= operand,
        NumericOp.Equal => value == operand,
        NumericOp.GreaterEqual => value >= operand,
        NumericOp.Greater => value > operand,
        NumericOp.NotEqual => value != operand,
        _ => false,
    };

    static bool Intersects(IReadOnlyList<string> a, IReadOnlyList<string> b)
    {
        foreach (var x in a)
            foreach (var y in b)
                if (string.Equals(x, y, StringComparison.Ordinal)) return true;
        return false;
    }
}
