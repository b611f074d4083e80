using Microsoft.Extensions.DependencyInjection;

namespace Catalogs.VertexAI.Tests;

/// <summary>Runs only when real Google Cloud is configured: <c>CATALOGS_GCP_INDEX</c> (an index resource name) and
/// credentials (<c>GOOGLE_APPLICATION_CREDENTIALS</c> or a gcloud ADC login). Otherwise reported as skipped.</summary>
public sealed class GcpFactAttribute : FactAttribute
{
    public GcpFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("CATALOGS_GCP_INDEX") is null)
            Skip = "Real GCP not configured (set CATALOGS_GCP_INDEX and GOOGLE_APPLICATION_CREDENTIALS).";
    }
}

public class RealGcpTests
{
    [GcpFact]
    public async Task The_configured_index_is_readable_with_application_default_credentials()
    {
        var index = Environment.GetEnvironmentVariable("CATALOGS_GCP_INDEX")!;
        var services = new ServiceCollection();
        services.AddVertexClients(new Microsoft.Extensions.Configuration.ConfigurationBuilder().Build());
        using var provider = services.BuildServiceProvider();
        var described = await provider.GetRequiredService<MatchingEngineClient>().GetIndexAsync(index);
        Assert.Equal(index, described.Name);
        Assert.True(described.Metadata.Config!.Dimensions > 0);
    }
}
