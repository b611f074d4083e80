using System.Text.Json;
using Catalogs.VertexAI;

namespace Catalogs.VertexEmulator;

/// <summary>The Cloud Storage JSON API subset: resumable uploads (308 Resume Incomplete with <c>Range</c>, status
/// queries with <c>bytes */*</c>), media downloads, prefix listing with pages, deletes.</summary>
static class StorageEndpoints
{
    const int PageSize = 100;

    public static void Map(WebApplication app)
    {
        app.MapPost("/upload/storage/v1/b/{bucket}/o", async (string bucket, HttpContext context,
            EmulatorState state) =>
        {
            if (context.Request.Query["uploadType"] != "resumable")
                return Error(400, "INVALID_ARGUMENT", "Only uploadType=resumable is emulated.");
            string? name = context.Request.Query["name"];
            if (name is null && context.Request.ContentLength > 0)
            {
                using var body = await JsonDocument.ParseAsync(context.Request.Body);
                name = body.RootElement.TryGetProperty("name", out var n) ? n.GetString() : null;
            }
            if (string.IsNullOrEmpty(name)) return Error(400, "INVALID_ARGUMENT", "The object needs a name.");
            var id = Guid.NewGuid().ToString("N");
            lock (state.Sync) state.Uploads[id] = (bucket, name,
                context.Request.Headers["X-Upload-Content-Type"].FirstOrDefault() ?? "application/octet-stream",
                new MemoryStream());
            context.Response.Headers.Location = $"{context.Request.Scheme}://{context.Request.Host}/upload/storage/v1" +
                $"/b/{Uri.EscapeDataString(bucket)}/o?uploadType=resumable&upload_id={id}";
            return Results.Ok();
        });
        app.MapPut("/upload/storage/v1/b/{bucket}/o", async (string bucket, HttpContext context, EmulatorState state) =>
        {
            string id = context.Request.Query["upload_id"].ToString();
            var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            var range = context.Request.Headers.ContentRange.ToString();
            lock (state.Sync)
            {
                if (state.CompletedUploads.TryGetValue(id, out var finished))
                    return Results.Json(finished, GoogleJson.Options);
                if (!state.Uploads.TryGetValue(id, out var upload))
                    return Error(404, "NOT_FOUND", "No such upload session.");
                // "bytes a-b/total", "bytes a-b/*", "bytes */total" or "bytes */*".
                var spec = range.StartsWith("bytes ", StringComparison.Ordinal) ? range[6..] : "*/*";
                var (span, total) = (spec[..spec.IndexOf('/')], spec[(spec.IndexOf('/') + 1)..]);
                if (span != "*")
                {
                    long first = long.Parse(span[..span.IndexOf('-')]);
                    if (first != upload.Data.Length)
                        return first > upload.Data.Length ? Error(400, "INVALID_ARGUMENT",
                            $"Chunk starts at {first}; {upload.Data.Length} bytes are held.") : Incomplete(context,
                            upload.Data.Length);
                    body.Position = 0;
                    body.CopyTo(upload.Data);
                }
                if (total == "*" || long.Parse(total) > upload.Data.Length)
                    return Incomplete(context, upload.Data.Length);
                state.Uploads.Remove(id);
                state.Bucket(upload.Bucket)[upload.Name] = upload.Data.ToArray();
                var stored = Describe(upload.Bucket, upload.Name, upload.Data.Length, upload.ContentType);
                state.CompletedUploads[id] = stored;
                return Results.Json(stored, GoogleJson.Options);
            }
        });
        app.MapGet("/storage/v1/b/{bucket}/o/{**name}", (string bucket, string name, HttpContext context,
            EmulatorState state) =>
        {
            lock (state.Sync)
            {
                if (!state.Buckets.TryGetValue(bucket, out var objects)
                    || !objects.TryGetValue(Uri.UnescapeDataString(name), out var bytes))
                    return Error(404, "NOT_FOUND", $"No such object: {bucket}/{name}");
                return context.Request.Query["alt"] == "media"
                    ? Results.Bytes(bytes, "application/octet-stream")
                    : Results.Json(Describe(bucket, Uri.UnescapeDataString(name), bytes.Length, null),
                        GoogleJson.Options);
            }
        });
        app.MapGet("/storage/v1/b/{bucket}/o", (string bucket, string? prefix, string? pageToken,
            EmulatorState state) =>
        {
            lock (state.Sync)
            {
                var names = state.Buckets.TryGetValue(bucket, out var objects)
                    ? objects.Where(o => o.Key.StartsWith(prefix ?? "", StringComparison.Ordinal)
                        && string.CompareOrdinal(o.Key, pageToken ?? "") > 0).Take(PageSize + 1).ToList()
                    : [];
                var page = names.Take(PageSize).Select(o => Describe(bucket, o.Key, o.Value.Length, null)).ToArray();
                return Results.Json(new StorageObjectList(page, names.Count > PageSize ? page[^1].Name : null),
                    GoogleJson.Options);
            }
        });
        app.MapDelete("/storage/v1/b/{bucket}/o/{**name}", (string bucket, string name, EmulatorState state) =>
        {
            lock (state.Sync)
                return state.Buckets.TryGetValue(bucket, out var objects)
                    && objects.Remove(Uri.UnescapeDataString(name))
                    ? Results.NoContent()
                    : Error(404, "NOT_FOUND", $"No such object: {bucket}/{name}");
        });
    }

    static StorageObject Describe(string bucket, string name, long size, string? contentType) => new(name, bucket, size,
        contentType, 1);

    static IResult Incomplete(HttpContext context, long held)
    {
        if (held > 0) context.Response.Headers["Range"] = $"bytes=0-{held - 1}";
        return Results.StatusCode(308);
    }

    static IResult Error(int code, string status, string message) =>
        Results.Json(new { error = new { code, message, status } }, statusCode: code);
}
