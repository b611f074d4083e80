using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;

namespace Catalogs.ApiHost.Tests;

/// <summary>A small web server on a free loopback port (image hosts for <c>imageUrl</c>, redirectors, failing
/// hosts).</summary>
static class LoopbackServer
{
    public static async Task<WebApplication> StartAsync(Action<WebApplication> map)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        map(app);
        await app.StartAsync();
        return app;
    }
}
