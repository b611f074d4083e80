using Catalogs.ApiHost.Infrastructure;
using Catalogs.Grains;

namespace Catalogs.ApiHost.Tests;

/// <summary>The domain's refusals and the one table that gives them status codes.</summary>
public sealed class ErrorModelTests
{
    [Fact]
    public void Every_refusal_kind_has_its_own_client_or_unavailable_status()
    {
        var statuses = Enum.GetValues<CatalogError>().ToDictionary(e => e, ProblemExceptionHandler.StatusOf);
        Assert.All(statuses, s => Assert.True(s.Value is >= 400 and < 500 or 503, $"{s.Key} → {s.Value}"));
        Assert.Equal(statuses.Count, statuses.Values.Distinct().Count());
        Assert.Equal(400, statuses[CatalogError.Malformed]);
        Assert.Equal(422, statuses[CatalogError.Invalid]);
        Assert.Equal(503, statuses[CatalogError.Unavailable]);
    }

    [Fact]
    public void Numeric_operators_read_and_write_the_names_Vertex_AI_uses()
    {
        foreach (var op in Enum.GetValues<NumericOperator>())
            Assert.Equal(op, NumericOperators.Parse(NumericOperators.Name(op)));
        Assert.Equal("GREATER_EQUAL", NumericOperators.Name(NumericOperator.GreaterEqual));
        Assert.Null(NumericOperators.Parse("greater_equal")); // Vertex AI spells them in capitals only
        Assert.Null(NumericOperators.Parse("BETWEEN"));
    }
}
