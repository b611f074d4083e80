using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Catalogs.Tests;
using Microsoft.AspNetCore.Hosting;

namespace Catalogs.ApiHost.Tests;

/// <summary>The API host as it runs outside Development: no request without a key, an operator key from
/// configuration, tenants isolated by their keys, a tight rate limit for one tenant.</summary>
public sealed class ProductionFactory : ApiFactory
{
    public const string OperatorKey = "operator-key-for-the-access-tests-0123456789";

    protected override void Configure(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Production");
        builder.UseSetting("Access:OperatorKey", OperatorKey);
    }
}

/// <summary>Outside Development, without an operator key configured.</summary>
public sealed class UnkeyedProductionFactory : ApiFactory
{
    protected override void Configure(IWebHostBuilder builder) => builder.UseEnvironment("Production");
}

public sealed class OperatorKeyTests
{
    [Fact]
    public void Outside_Development_the_host_refuses_to_start_without_an_operator_key()
    {
        using var factory = new UnkeyedProductionFactory();
        var refusal = Assert.ThrowsAny<Exception>(() => factory.CreateClient());
        Assert.Contains("No operator key", refusal.ToString());
    }

    [Fact]
    public async Task Development_generates_an_operator_key_into_the_data_directory_and_it_opens_the_admin_API()
    {
        using var factory = new ApiFactory();
        var http = factory.CreateClient();
        var path = Path.Combine(factory.DataPath, "operator-key");
        Assert.True(File.Exists(path));
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        await http.GetAsync("/v1/admin/tenants/dev").Problem(403, "scope"); // anonymous is a tenant, not the operator
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer",
            File.ReadAllText(path).Trim());
        Assert.Equal(HttpStatusCode.Created,
            (await http.PutAsJsonAsync("/v1/admin/tenants/dev", new { quotas = new { catalogs = 3 } })).StatusCode);
    }
}

public sealed class AccessTests(ProductionFactory factory) : IClassFixture<ProductionFactory>
{
    HttpClient Client(string? key = null)
    {
        var http = factory.CreateClient();
        if (key is not null) http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return http;
    }

    HttpClient Operator => Client(ProductionFactory.OperatorKey);

    async Task<string> NewTenantAsync(string tenant, object? settings = null)
    {
        var put = await Operator.PutAsJsonAsync($"/v1/admin/tenants/{tenant}", settings ?? new { });
        Assert.True(put.IsSuccessStatusCode, await put.Content.ReadAsStringAsync());
        return await NewKeyAsync(tenant, "search", "write", "admin");
    }

    async Task<string> NewKeyAsync(string tenant, params string[] scopes)
    {
        var created = await Operator.PostAsJsonAsync($"/v1/admin/tenants/{tenant}/keys", new { name = "k", scopes });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        return JsonNode.Parse(await created.Content.ReadAsStringAsync())!["key"]!.GetValue<string>();
    }

    static async Task CreateCatalogAsync(HttpClient http, string catalog)
    {
        var put = await http.PutAsJsonAsync($"/v1/catalogs/{catalog}", new { dimensions = 2, metric = "dot" });
        Assert.True(put.IsSuccessStatusCode, await put.Content.ReadAsStringAsync());
        var product = await http.PutAsJsonAsync($"/v1/catalogs/{catalog}/products/p1",
            new { featureVector = new[] { 1f, 0 } });
        Assert.True(product.IsSuccessStatusCode, await product.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Without_a_key_nothing_but_probes_and_docs_answer()
    {
        var anonymous = Client();
        await anonymous.GetAsync("/v1/catalogs").Problem(401, "API key");
        Assert.Equal("Bearer", (await anonymous.GetAsync("/v1/catalogs")).Headers.WwwAuthenticate.Single().Scheme);
        await anonymous.PutAsJsonAsync("/v1/catalogs/x", new { dimensions = 2 }).Problem(401, "API key");
        await anonymous.GetAsync("/v1/admin/tenants/acme").Problem(401, "API key");
        await Client("ck_acme_000000000000_notarealsecretnotarealsecretnotarealsecret")
            .GetAsync("/v1/catalogs").Problem(401, "not valid");
        await Client("garbage").GetAsync("/v1/catalogs").Problem(401, "not valid");
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/openapi/v1.json")).StatusCode);
    }

    [Fact]
    public async Task A_tenant_cannot_see_search_change_or_detect_another_tenants_catalogs()
    {
        var a = Client(await NewTenantAsync("tenant-a"));
        var b = Client(await NewTenantAsync("tenant-b"));
        await CreateCatalogAsync(a, "secret-shoes");
        var import = await a.PostAsync("/v1/catalogs/secret-shoes/imports", new StringContent(
            "{\"id\":\"p9\",\"featureVector\":[0,1]}\n", System.Text.Encoding.UTF8, "application/x-ndjson"));
        Assert.Equal(HttpStatusCode.Accepted, import.StatusCode);
        var job = import.Headers.Location!.ToString().Split('/')[^1];

        Assert.Empty((await b.GetFromJsonAsync<JsonNode>("/v1/catalogs"))!["catalogs"]!.AsArray());
        Assert.Single((await a.GetFromJsonAsync<JsonNode>("/v1/catalogs"))!["catalogs"]!.AsArray());
        // Every probe of A's catalog through B's key reads exactly like a name that exists nowhere.
        (string Method, string Path, object? Body)[] probes =
        [
            ("GET", "/v1/catalogs/{0}", null),
            ("GET", "/v1/catalogs/{0}/products/p1", null),
            ("GET", "/v1/catalogs/{0}/products/p1/image", null),
            ("DELETE", "/v1/catalogs/{0}/products/p1", null),
            ("POST", "/v1/catalogs/{0}/search", new { featureVector = new[] { 1f, 0 } }),
            ("PUT", "/v1/catalogs/{0}/products/p2", new { featureVector = new[] { 1f, 0 } }),
            ("GET", "/v1/catalogs/{0}/imports", null),
            ("GET", $"/v1/catalogs/{{0}}/imports/{job}", null),
            ("POST", $"/v1/catalogs/{{0}}/imports/{job}:cancel", null),
            ("POST", "/v1/catalogs/{0}/imports", new { folder = "any" }),
            ("DELETE", "/v1/catalogs/{0}", null),
        ];
        foreach (var (method, path, body) in probes)
        {
            var real = await SendAsync(b, method, string.Format(path, "secret-shoes"), body);
            var none = await SendAsync(b, method, string.Format(path, "no-such-catalog"), body);
            Assert.Equal(HttpStatusCode.NotFound, real.Status);
            Assert.Equal(none.Status, real.Status);
            Assert.Equal(none.Body.Replace("no-such-catalog", "NAME"), real.Body.Replace("secret-shoes", "NAME"));
        }
        // A's catalog and product are untouched by B's attempts.
        Assert.Equal(HttpStatusCode.OK, (await a.GetAsync("/v1/catalogs/secret-shoes/products/p1")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await a.GetAsync("/v1/catalogs/secret-shoes/products/p2")).StatusCode);
    }

    static async Task<(HttpStatusCode Status, string Body)> SendAsync(HttpClient http, string method, string path,
        object? body)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null) request.Content = JsonContent.Create(body);
        var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        // The trace id differs per request by design.
        var json = JsonNode.Parse(text)!.AsObject();
        json.Remove("traceId");
        return (response.StatusCode, json.ToJsonString());
    }

    [Fact]
    public async Task Scopes_limit_what_a_key_may_do()
    {
        var admin = Client(await NewTenantAsync("scoped"));
        await CreateCatalogAsync(admin, "shop");
        var search = Client(await NewKeyAsync("scoped", "search"));
        var write = Client(await NewKeyAsync("scoped", "write"));

        Assert.Equal(HttpStatusCode.OK, (await search.PostAsJsonAsync("/v1/catalogs/shop/search",
            new { featureVector = new[] { 1f, 0 } })).StatusCode);
        await search.PutAsJsonAsync("/v1/catalogs/shop/products/p9", new { featureVector = new[] { 1f, 0 } })
            .Problem(403, "scope");
        await search.DeleteAsync("/v1/catalogs/shop").Problem(403, "scope");
        Assert.Equal(HttpStatusCode.OK, (await write.PutAsJsonAsync("/v1/catalogs/shop/products/p9",
            new { featureVector = new[] { 0f, 1 } })).StatusCode);
        await write.PostAsJsonAsync("/v1/catalogs/shop/search", new { featureVector = new[] { 1f, 0 } })
            .Problem(403, "scope");
        await write.PutAsJsonAsync("/v1/catalogs/other", new { dimensions = 2 }).Problem(403, "scope");
        // A tenant key is never the operator.
        await admin.GetAsync("/v1/admin/tenants/scoped").Problem(403, "scope");
        await Operator.PostAsJsonAsync("/v1/admin/tenants/scoped/keys", new { scopes = new[] { "root" } })
            .Problem(422, "Unknown scope");
        await Operator.PostAsJsonAsync("/v1/admin/tenants/nobody-here/keys", new { scopes = new[] { "search" } })
            .Problem(404, "no tenant");
    }

    [Fact]
    public async Task Keys_are_listed_without_secrets_rotated_with_a_grace_period_and_revoked_at_once()
    {
        var key = await NewTenantAsync("rotating");
        var listed = await Operator.GetStringAsync("/v1/admin/tenants/rotating/keys");
        Assert.DoesNotContain(key.Split('_')[3], listed);
        var id = key.Split('_')[2];
        Assert.Contains(id, listed);

        var rotated = await Operator.PostAsJsonAsync($"/v1/admin/tenants/rotating/keys/{id}:rotate",
            new { graceSeconds = 2 });
        Assert.Equal(HttpStatusCode.Created, rotated.StatusCode);
        var next = JsonNode.Parse(await rotated.Content.ReadAsStringAsync())!["key"]!.GetValue<string>();
        Assert.NotEqual(key, next);
        // Both work during the grace period; the old one stops after it.
        Assert.Equal(HttpStatusCode.OK, (await Client(key).GetAsync("/v1/catalogs")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Client(next).GetAsync("/v1/catalogs")).StatusCode);
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        await Client(key).GetAsync("/v1/catalogs").Problem(401, "not valid");
        Assert.Equal(HttpStatusCode.OK, (await Client(next).GetAsync("/v1/catalogs")).StatusCode);

        // The tenant's own admin key revokes a key through /v1/keys: refused at once.
        var own = Client(next);
        var created = await own.PostAsJsonAsync("/v1/keys", new { name = "ci", scopes = new[] { "search" } });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var extra = JsonNode.Parse(await created.Content.ReadAsStringAsync())!;
        var extraKey = extra["key"]!.GetValue<string>();
        Assert.Equal(HttpStatusCode.OK, (await Client(extraKey).GetAsync("/v1/catalogs")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent,
            (await own.DeleteAsync($"/v1/keys/{extra["id"]!.GetValue<string>()}")).StatusCode);
        await Client(extraKey).GetAsync("/v1/catalogs").Problem(401, "not valid");
        var keys = (await own.GetFromJsonAsync<JsonArray>("/v1/keys"))!;
        Assert.Contains(keys, k => k!["revokedAt"] is not null);
        Assert.Contains(keys, k => k!["replacedBy"]?.GetValue<string>() == next.Split('_')[2]);
    }

    [Fact]
    public async Task A_tenant_over_its_rate_limit_gets_429_with_Retry_After_and_others_are_not_slowed()
    {
        var slow = Client(await NewTenantAsync("throttled",
            new { rateLimit = new { requestsPerSecond = 1, burst = 3 } }));
        var other = Client(await NewTenantAsync("unthrottled"));
        var statuses = new List<HttpResponseMessage>();
        for (int i = 0; i < 6; i++) statuses.Add(await slow.GetAsync("/v1/catalogs"));
        var refused = statuses.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.NotEmpty(refused);
        Assert.True(refused[0].Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
        Assert.Equal("application/problem+json", refused[0].Content.Headers.ContentType?.MediaType);
        for (int i = 0; i < 6; i++)
            Assert.Equal(HttpStatusCode.OK, (await other.GetAsync("/v1/catalogs")).StatusCode);
        var stats = await Operator.GetFromJsonAsync<JsonNode>("/v1/admin/tenants/throttled");
        Assert.True(stats!["rateLimitedHere"]!.GetValue<long>() >= refused.Count);
    }

    [Fact]
    public async Task Quotas_refuse_the_catalog_and_the_products_past_them_and_stats_show_the_usage()
    {
        var http = Client(await NewTenantAsync("small", new { quotas = new { catalogs = 1, products = 2 } }));
        await CreateCatalogAsync(http, "only");
        await http.PutAsJsonAsync("/v1/catalogs/second", new { dimensions = 2, metric = "dot" })
            .Problem(403, "quota of 1 catalogs");
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/v1/catalogs/second")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.PutAsJsonAsync("/v1/catalogs/only/products/p2",
            new { featureVector = new[] { 0f, 1 } })).StatusCode);
        await Task.Delay(TimeSpan.FromSeconds(5.5)); // the product count is reused for Access:UsageCacheTtl
        await http.PutAsJsonAsync("/v1/catalogs/only/products/p3", new { featureVector = new[] { 1f, 1 } })
            .Problem(403, "quota of 2 products");
        var stats = (await Operator.GetFromJsonAsync<JsonNode>("/v1/admin/tenants/small"))!;
        Assert.Equal(1, stats["usage"]!["catalogs"]!.GetValue<int>());
        Assert.Equal(2, stats["usage"]!["products"]!.GetValue<long>());
        Assert.Equal(2, stats["quotas"]!["products"]!.GetValue<long>());
    }

    [Fact]
    public async Task A_byte_quota_refuses_writes_once_the_products_take_it_and_stats_show_the_bytes()
    {
        var http = Client(await NewTenantAsync("bytes", new { quotas = new { bytes = 20 } }));
        await CreateCatalogAsync(http, "tiny"); // one product: a 2-dimensional vector, 8 bytes
        int n = 1;
        HttpResponseMessage last = null!;
        // Writes pass until the usage seen (reused for Access:UsageCacheTtl) reaches the quota.
        Assert.True(await Eventually.HoldsAsync(async () =>
        {
            last = await http.PutAsJsonAsync($"/v1/catalogs/tiny/products/b{n++}",
                new { featureVector = new[] { 1f, 0 } });
            return last.StatusCode == HttpStatusCode.Forbidden;
        }, TimeSpan.FromSeconds(30)));
        Assert.Contains("quota of 20 stored bytes", await last.Content.ReadAsStringAsync());
        var stats = (await Operator.GetFromJsonAsync<JsonNode>("/v1/admin/tenants/bytes"))!;
        var products = stats["usage"]!["products"]!.GetValue<long>();
        Assert.True(products >= 3, $"{products} products");
        Assert.Equal(8 * products, stats["usage"]!["bytes"]!.GetValue<long>());
        Assert.Equal(20, stats["quotas"]!["bytes"]!.GetValue<long>());
        await Operator.PutAsJsonAsync("/v1/admin/tenants/bytes", new { quotas = new { bytes = -1 } })
            .Problem(422, "negative");
    }

    [Fact]
    public async Task The_OpenAPI_document_names_the_bearer_scheme()
    {
        var doc = (await Client().GetFromJsonAsync<JsonNode>("/openapi/v1.json"))!;
        Assert.Equal("bearer", doc["components"]!["securitySchemes"]!["ApiKey"]!["scheme"]!.GetValue<string>());
        Assert.NotNull(doc["security"]);
        Assert.NotNull(doc["paths"]!["/v1/admin/tenants/{tenant}/keys"]);
        var docs = await Client().GetAsync("/docs/");
        Assert.Equal(HttpStatusCode.OK, docs.StatusCode);
    }

    [Fact]
    public async Task The_operator_lists_the_tenants_it_created()
    {
        await NewTenantAsync("listed-one");
        await NewTenantAsync("listed-two");
        var list = (await Operator.GetFromJsonAsync<JsonNode>("/v1/admin/tenants"))!["tenants"]!.AsArray()
            .Select(t => t!.GetValue<string>()).ToArray();
        Assert.Contains("listed-one", list);
        Assert.Contains("listed-two", list);
        await Client(await NewKeyAsync("listed-one", "admin")).GetAsync("/v1/admin/tenants").Problem(403, "scope");
    }
}
