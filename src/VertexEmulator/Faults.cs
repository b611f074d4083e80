namespace Catalogs.VertexEmulator;

/// <summary>What goes wrong, and how often, on the API routes (not on <c>/token</c> or <c>/emulator</c>).</summary>
/// <param name="ErrorRate">Share of requests answered with <paramref name="ErrorStatus"/> before being
/// processed.</param>
/// <param name="QuotaRate">Share answered 429 RESOURCE_EXHAUSTED (a quota error), before being processed.</param>
/// <param name="DropBeforeRate">Share whose connection is dropped before processing (nothing happened).</param>
/// <param name="DropAfterRate">Share whose connection is dropped after processing (it happened; the client cannot
/// know).</param>
/// <param name="LatencyMs">Added to every request.</param>
/// <param name="PathContains">Only requests whose path and query contain this are affected (null: all API
/// routes).</param>
/// <param name="RejectDatapointsContaining">upsertDatapoints refuses (400 INVALID_ARGUMENT, nothing applied) any
/// request
/// holding a datapoint whose id contains this: a datapoint Matching Engine will never take.</param>
public sealed record FaultSettings(
    double ErrorRate = 0, int ErrorStatus = 503, double QuotaRate = 0, double DropBeforeRate = 0, double DropAfterRate =
        0,
    int LatencyMs = 0, string? PathContains = null, int Seed = 1, string? RejectDatapointsContaining = null);

/// <summary>Counts of what the emulator did, for tests to check that faults really happened.</summary>
public sealed record EmulatorStats(long Requests, long Errors, long Quota, long DroppedBefore, long DroppedAfter,
    long Unauthenticated);

sealed class FaultInjector
{
    FaultSettings settings = new();
    Random random = new(1);
    readonly Lock sync = new();
    long requests, errors, quota, droppedBefore, droppedAfter, unauthenticated;

    public FaultSettings Settings
    {
        get { lock (sync) return settings; }
        set { lock (sync) { settings = value; random = new Random(value.Seed); } }
    }

    public EmulatorStats Stats => new(Interlocked.Read(ref requests), Interlocked.Read(ref errors),
        Interlocked.Read(ref quota),
        Interlocked.Read(ref droppedBefore), Interlocked.Read(ref droppedAfter), Interlocked.Read(ref unauthenticated));

    public void CountUnauthenticated() => Interlocked.Increment(ref unauthenticated);

    double Roll()
    {
        lock (sync) return random.NextDouble();
    }

    public static bool IsApiPath(PathString path) =>
        path.StartsWithSegments("/v1") || path.StartsWithSegments("/upload") || path.StartsWithSegments("/storage");

    /// <summary>Middleware: latency, errors and drops around the API routes.</summary>
    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var s = Settings;
        if (!IsApiPath(context.Request.Path) || (s.PathContains is not null && !(context.Request.Path.Value
            + context.Request.QueryString.Value).Contains(s.PathContains, StringComparison.Ordinal)))
        {
            await next(context);
            return;
        }
        Interlocked.Increment(ref requests);
        if (s.LatencyMs > 0) await Task.Delay(s.LatencyMs, context.RequestAborted);
        double roll = Roll();
        if (roll < s.ErrorRate)
        {
            Interlocked.Increment(ref errors);
            await Errors.WriteAsync(context, s.ErrorStatus, s.ErrorStatus == 429 ? "RESOURCE_EXHAUSTED" : "UNAVAILABLE",
                "Injected fault.");
            return;
        }
        if (roll < s.ErrorRate + s.QuotaRate)
        {
            Interlocked.Increment(ref quota);
            await Errors.WriteAsync(context, 429, "RESOURCE_EXHAUSTED",
                "Quota exceeded for quota metric 'Online requests' of service 'aiplatform.googleapis.com' (injected).");
            return;
        }
        if (roll < s.ErrorRate + s.QuotaRate + s.DropBeforeRate)
        {
            Interlocked.Increment(ref droppedBefore);
            context.Abort();
            return;
        }
        if (Roll() < s.DropAfterRate)
        {
            // Process, then drop the connection instead of answering.
            var original = context.Response.Body;
            context.Response.Body = new MemoryStream();
            await next(context);
            Interlocked.Increment(ref droppedAfter);
            context.Response.Body = original;
            context.Abort();
            return;
        }
        await next(context);
    }
}

static class Errors
{
    public static Task WriteAsync(HttpContext context, int code, string status, string message)
    {
        context.Response.StatusCode = code;
        return context.Response.WriteAsJsonAsync(new { error = new { code, message, status } });
    }
}
