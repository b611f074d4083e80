using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Catalogs.ApiHost.Tests;

/// <summary>Small helpers for calling the API and reading its JSON.</summary>
static class Api
{
    public static Task<HttpResponseMessage> PutJson(this HttpClient http, string url, object body) =>
        http.PutAsJsonAsync(url, body);
    public static Task<HttpResponseMessage> PostJson(this HttpClient http, string url, object body) =>
        http.PostAsJsonAsync(url, body);

    public static Task<HttpResponseMessage> PostRaw(this HttpClient http, string url, string json) =>
        http.PostAsync(url, new StringContent(json, Encoding.UTF8, "application/json"));

    public static Task<HttpResponseMessage> PutRaw(this HttpClient http, string url, string json) =>
        http.PutAsync(url, new StringContent(json, Encoding.UTF8, "application/json"));

    public static MultipartFormDataContent Multipart(byte[] image, string? jsonField = null, string jsonName =
        "datapoint")
    {
        var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(image);
        file.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(file, "image", "upload.bin");
        if (jsonField is not null) form.Add(new StringContent(jsonField), jsonName);
        return form;
    }

    public static async Task<JsonNode> Json(this HttpResponseMessage response, System.Net.HttpStatusCode expected)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected,
            $"Expected {(int)expected}, got {(int)response.StatusCode}: {body}");
        return body.Length == 0 ? new JsonObject() : JsonNode.Parse(body)!;
    }

    /// <summary>Asserts a problem+json refusal with the given status whose detail mentions <paramref
    /// name="mention"/>.</summary>
    public static async Task Problem(this Task<HttpResponseMessage> call, int status, string mention)
    {
        var response = await call;
        var body = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"Expected {status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var detail = JsonNode.Parse(body)!["detail"]?.GetValue<string>() ?? "";
        Assert.Contains(mention, detail, StringComparison.OrdinalIgnoreCase);
    }

    public static string[] Ids(JsonNode search) => search["neighbors"]!.AsArray().Select(n =>
        n!["id"]!.GetValue<string>()).ToArray();

    public static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);
}
