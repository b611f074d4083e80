using Catalogs.ApiHost.Access;
using Catalogs.ApiHost.Infrastructure;
using Catalogs.Grains;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Catalogs.ApiHost.Tenants;

/// <summary>
/// The operator's API (<c>/v1/admin</c>, operator key): create and configure tenants (quotas, rate limit), see their
/// usage, and manage their keys. A tenant's admin key manages its own keys at <c>/v1/keys</c>. Secrets are in the
/// answer to a creation or rotation only.
/// </summary>
public static class TenantEndpoints
{
    /// <summary>Bytes: the products' images as uploaded plus their vectors (4 bytes per dimension).</summary>
    public sealed record QuotasDto(int? Catalogs, long? Products, long? Bytes = null);

    public sealed record RateLimitDto(int RequestsPerSecond, int? Burst);

    public sealed record TenantDto(QuotasDto? Quotas, RateLimitDto? RateLimit);

    public sealed record KeyDraftDto(string? Name, string[]? Scopes);

    public sealed record RotateDto(double? GraceSeconds);

    public sealed record KeyView(string Id, string Name, string[] Scopes, DateTimeOffset CreatedAt,
        DateTimeOffset? ExpiresAt, DateTimeOffset? RevokedAt, string? ReplacedBy);

    /// <summary>A new key: the only time its secret is shown.</summary>
    public sealed record CreatedKey(string Id, string Key, string Name, string[] Scopes, DateTimeOffset CreatedAt);

    public sealed record TenantList(string[] Tenants);

    public sealed record TenantStats(string Name, QuotasDto Quotas, RateLimitDto RateLimit, DateTimeOffset CreatedAt,
        IReadOnlyList<string> Catalogs, TenantUsage Usage, long RateLimitedHere, IReadOnlyList<KeyView> Keys);

    public static IEndpointRouteBuilder MapTenantEndpoints(this IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/v1/admin/tenants").WithTags("Operator")
            .RequireAuthorization(Callers.OperatorPolicy);
        admin.MapGet("/", async (TenantServices s, CancellationToken ct) => TypedResults.Ok(
                new TenantList(await s.Directory.List(ct))))
            .WithSummary("The tenants the operator created");
        admin.MapPut("/{tenant}", PutTenantAsync).WithSummary("Create a tenant or change its quotas and rate limit")
            .Accepts<TenantDto>("application/json").ProducesProblem(400).ProducesProblem(422);
        admin.MapGet("/{tenant}", GetTenantAsync)
            .WithSummary("A tenant: settings, catalogs, usage against quotas, rate-limited requests, keys")
            .ProducesProblem(404);
        admin.MapPost("/{tenant}/keys", (string tenant, KeyDraftDto body, TenantServices s, CancellationToken ct) =>
                CreateKeyAsync(tenant, body, s, ct))
            .WithSummary("Create a key (scopes: search, write, admin); its secret is shown in this answer only")
            .ProducesProblem(404).ProducesProblem(422);
        admin.MapGet("/{tenant}/keys", (string tenant, TenantServices s, CancellationToken ct) =>
            ListKeysAsync(tenant, s, ct)).WithSummary("A tenant's keys, without secrets").ProducesProblem(404);
        admin.MapPost("/{tenant}/keys/{id}:rotate", (string tenant, string id, RotateDto? body, TenantServices s,
                CancellationToken ct) => RotateKeyAsync(tenant, id, body, s, ct))
            .WithSummary("Replace a key: the new one is returned, the old one works for graceSeconds more " +
                "(default: Access:RotationGrace)").ProducesProblem(404);
        admin.MapDelete("/{tenant}/keys/{id}", (string tenant, string id, TenantServices s, CancellationToken ct) =>
            RevokeKeyAsync(tenant, id, s, ct)).WithSummary("Revoke a key at once").ProducesProblem(404);

        var own = app.MapGroup("/v1/keys").WithTags("Keys").RequireScope(ApiKeyScopes.Admin);
        own.MapPost("/", (KeyDraftDto body, HttpContext http, TenantServices s, CancellationToken ct) =>
                CreateKeyAsync(Own(http), body, s, ct))
            .WithSummary("Create a key of this tenant; its secret is shown in this answer only").ProducesProblem(422);
        own.MapGet("/", (HttpContext http, TenantServices s, CancellationToken ct) => ListKeysAsync(Own(http), s, ct))
            .WithSummary("This tenant's keys, without secrets");
        own.MapPost("/{id}:rotate", (string id, RotateDto? body, HttpContext http, TenantServices s,
                CancellationToken ct) => RotateKeyAsync(Own(http), id, body, s, ct))
            .WithSummary("Replace a key of this tenant; the old one works for graceSeconds more").ProducesProblem(404);
        own.MapDelete("/{id}", (string id, HttpContext http, TenantServices s, CancellationToken ct) =>
            RevokeKeyAsync(Own(http), id, s, ct)).WithSummary("Revoke a key of this tenant").ProducesProblem(404);
        return app;
    }

    /// <summary>What the key handlers need, resolved together.</summary>
    public sealed class TenantServices(IGrainFactory grains, KeyVerifier verifier, IOptions<AccessOptions> access,
        RequestCounters counters)
    {
        public ITenantGrain Tenant(string name)
        {
            RequestValidator.CatalogNameIsValid(name); // tenant names follow the catalog-name rule
            return grains.GetGrain<ITenantGrain>(name);
        }

        public ITenantDirectoryGrain Directory => grains.GetGrain<ITenantDirectoryGrain>(ITenantDirectoryGrain.Key);

        public KeyVerifier Verifier => verifier;
        public AccessOptions Access => access.Value;
        public RequestCounters Counters => counters;
    }

    static string Own(HttpContext http) => Callers.TenantOf(http.User)
        ?? throw CatalogRequestException.NotFound("This key belongs to no tenant.");

    static async Task<Results<Created<TenantStats>, Ok<TenantStats>>> PutTenantAsync(string tenant, TenantDto body,
        TenantServices s, CancellationToken ct)
    {
        var settings = Validate(body, s.Access);
        bool created = await s.Tenant(tenant).Configure(settings, ct);
        var stats = await StatsAsync(tenant, s, ct);
        return created ? TypedResults.Created($"/v1/admin/tenants/{tenant}", stats) : TypedResults.Ok(stats);
    }

    static async Task<Ok<TenantStats>> GetTenantAsync(string tenant, TenantServices s, CancellationToken ct) =>
        TypedResults.Ok(await StatsAsync(tenant, s, ct));

    static async Task<TenantStats> StatsAsync(string tenant, TenantServices s, CancellationToken ct)
    {
        var grain = s.Tenant(tenant);
        var view = await ViewAsync(grain, tenant, ct);
        var rate = view.Settings.RateLimit ?? new TenantRateLimit(s.Access.DefaultRequestsPerSecond,
            s.Access.DefaultBurst);
        return new TenantStats(view.Name, new QuotasDto(view.Settings.Quotas.Catalogs, view.Settings.Quotas.Products,
                view.Settings.Quotas.Bytes),
            new RateLimitDto(rate.RequestsPerSecond, rate.Burst), view.CreatedAt, view.Catalogs,
            await grain.GetUsage(ct), s.Counters.RateLimitedOf(tenant), view.Keys.Select(ToView).ToArray());
    }

    static TenantSettings Validate(TenantDto body, AccessOptions access)
    {
        if (body.Quotas is { Catalogs: < 0 } or { Products: < 0 } or { Bytes: < 0 })
            throw CatalogRequestException.Invalid("Quotas cannot be negative.");
        if (body.RateLimit is { } r && (r.RequestsPerSecond is < 1 or > 1_000_000 || r.Burst is < 1 or > 1_000_000))
            throw CatalogRequestException.Invalid("rateLimit.requestsPerSecond and burst must be 1–1,000,000.");
        return new TenantSettings(new TenantQuotas(body.Quotas?.Catalogs, body.Quotas?.Products,
                body.Quotas?.Bytes),
            body.RateLimit is { } rate
                ? new TenantRateLimit(rate.RequestsPerSecond, rate.Burst ?? rate.RequestsPerSecond * 2)
                : null);
    }

    static async Task<Created<CreatedKey>> CreateKeyAsync(string tenant, KeyDraftDto body, TenantServices s,
        CancellationToken ct)
    {
        var name = body.Name ?? "key";
        if (name.Length is 0 or > 100) throw CatalogRequestException.Invalid("A key's name is 1–100 characters.");
        var (draft, key) = ApiKeys.Create(tenant, name, ApiKeys.ScopesOf(body.Scopes));
        var info = await s.Tenant(tenant).AddKey(draft, ct);
        return TypedResults.Created($"keys/{info.Id}", new CreatedKey(info.Id, key, info.Name,
            ApiKeys.Names(info.Scopes), info.CreatedAt));
    }

    static async Task<Ok<KeyView[]>> ListKeysAsync(string tenant, TenantServices s, CancellationToken ct)
    {
        var view = await ViewAsync(s.Tenant(tenant), tenant, ct);
        return TypedResults.Ok(view.Keys.Select(ToView).ToArray());
    }

    static async Task<Created<CreatedKey>> RotateKeyAsync(string tenant, string id, RotateDto? body, TenantServices s,
        CancellationToken ct)
    {
        var grace = body?.GraceSeconds is { } seconds
            ? seconds is >= 0 and <= 30 * 86_400
                ? TimeSpan.FromSeconds(seconds)
                : throw CatalogRequestException.Invalid("graceSeconds must be 0–2,592,000 (30 days).")
            : s.Access.RotationGrace;
        var (draft, key) = ApiKeys.Create(tenant, "rotated", ApiKeyScopes.Search);
        var info = await s.Tenant(tenant).RotateKey(id, draft, grace, ct);
        s.Verifier.Forget(tenant, id);
        return TypedResults.Created($"keys/{info.Id}", new CreatedKey(info.Id, key, info.Name,
            ApiKeys.Names(info.Scopes), info.CreatedAt));
    }

    static async Task<NoContent> RevokeKeyAsync(string tenant, string id, TenantServices s, CancellationToken ct)
    {
        await s.Tenant(tenant).RevokeKey(id, ct);
        s.Verifier.Forget(tenant, id);
        return TypedResults.NoContent();
    }

    static async Task<TenantView> ViewAsync(ITenantGrain grain, string tenant, CancellationToken ct) =>
        await grain.GetView(ct) ?? throw CatalogRequestException.NotFound($"There is no tenant '{tenant}'.");

    static KeyView ToView(ApiKeyInfo k) =>
        new(k.Id, k.Name, ApiKeys.Names(k.Scopes), k.CreatedAt, k.ExpiresAt, k.RevokedAt, k.ReplacedBy);
}
