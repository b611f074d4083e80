namespace Catalogs.Grains;

/// <summary>How a query's numeric restrict compares a datapoint's value with its own (Vertex AI's
/// <c>NumericRestriction.Operator</c>).</summary>
public enum NumericOperator { Less, LessEqual, Equal, GreaterEqual, Greater, NotEqual }

public static class NumericOperators
{
    static readonly string[] Names = ["LESS", "LESS_EQUAL", "EQUAL", "GREATER_EQUAL", "GREATER", "NOT_EQUAL"];

    /// <summary>The names Vertex AI uses, for messages.</summary>
    public static string Accepted => string.Join(", ", Names);

    /// <summary>The operator's name on the wire, as Vertex AI spells it.</summary>
    public static string Name(NumericOperator op) => Names[(int)op];

    /// <summary>The operator a wire name stands for (exact spelling, as Vertex AI requires), or null.</summary>
    public static NumericOperator? Parse(string name)
    {
        int i = Array.IndexOf(Names, name);
        return i < 0 ? null : (NumericOperator)i;
    }
}
