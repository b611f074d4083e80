using System.Globalization;
using System.Threading.RateLimiting;
using Catalogs.Grains;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.OpenApi;

namespace Catalogs.ApiHost.Access;

/// <summary>Authentication by API key, an authorization policy per scope, every endpoint closed unless it says
/// otherwise, per-tenant rate limits, and the security scheme in the OpenAPI document.</summary>
public static class AccessExtensions
{
    public static WebApplicationBuilder AddCatalogsAccess(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<AccessOptions>().Bind(builder.Configuration.GetSection(AccessOptions.Section))
            .Configure(o =>
            {
                // Development serves the README's examples and the demo without a key.
                if (builder.Environment.IsDevelopment()
                    && builder.Configuration[$"{AccessOptions.Section}:AnonymousTenant"] is null)
                    o.AnonymousTenant = builder.Configuration["Api:Tenant"] ?? "default";
            })
            .ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton(sp => OperatorKey.Resolve(builder.Configuration, builder.Environment,
            message => sp.GetRequiredService<ILoggerFactory>().CreateLogger<OperatorKey>().LogWarning("{Message}",
                message)));
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<KeyVerifier>();
        services.AddSingleton<StorageQuota>();
        services.AddSingleton<RequestCounters>();
        services.AddHttpContextAccessor();
        services.AddAuthentication(Callers.Scheme)
            .AddScheme<Microsoft.AspNetCore.Authentication.AuthenticationSchemeOptions,
                ApiKeyAuthenticationHandler>(Callers.Scheme, null);
        services.AddAuthorizationBuilder()
            .SetFallbackPolicy(new AuthorizationPolicyBuilder().RequireAuthenticatedUser().Build())
            .AddPolicy(Callers.OperatorPolicy, p => p.RequireRole(Callers.OperatorRole))
            .AddPolicy(Callers.Policy(ApiKeyScopes.Search), p => p.RequireAssertion(c =>
                Callers.Has(c.User, ApiKeyScopes.Search)))
            .AddPolicy(Callers.Policy(ApiKeyScopes.Write), p => p.RequireAssertion(c =>
                Callers.Has(c.User, ApiKeyScopes.Write)))
            .AddPolicy(Callers.Policy(ApiKeyScopes.Admin), p => p.RequireAssertion(c =>
                Callers.Has(c.User, ApiKeyScopes.Admin)));
        services.AddRateLimiter(o =>
        {
            o.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
                Callers.TenantOf(context.User) is { } tenant && Callers.RateOf(context.User) is { } rate
                    // The limit is part of the partition: a tenant whose limit changes gets a bucket of the new size.
                    ? RateLimitPartition.GetTokenBucketLimiter($"{tenant}/{rate.RequestsPerSecond}/{rate.Burst}",
                        _ => new TokenBucketRateLimiterOptions
                        {
                            TokenLimit = rate.Burst,
                            TokensPerPeriod = rate.RequestsPerSecond,
                            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                            QueueLimit = 0,
                            AutoReplenishment = true,
                        })
                    : RateLimitPartition.GetNoLimiter(""));
            o.OnRejected = async (rejected, cancellationToken) =>
            {
                var http = rejected.HttpContext;
                var retryAfter = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after)
                    ? Math.Max(1, (int)Math.Ceiling(after.TotalSeconds))
                    : 1;
                if (Callers.TenantOf(http.User) is { } tenant)
                    http.RequestServices.GetRequiredService<RequestCounters>().RateLimited(tenant);
                http.Response.StatusCode = StatusCodes.Status429TooManyRequests;
                http.Response.Headers.RetryAfter = retryAfter.ToString(CultureInfo.InvariantCulture);
                await http.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new()
                {
                    HttpContext = http,
                    ProblemDetails =
                    {
                        Status = StatusCodes.Status429TooManyRequests,
                        Detail = $"The tenant's rate limit is reached: retry after {retryAfter} s.",
                    },
                });
            };
        });
        services.AddOpenApi(o => o.AddDocumentTransformer((document, _, _) =>
        {
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes[Callers.Scheme] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                BearerFormat = "ck_{tenant}_{id}_{secret}",
                Description = "A tenant's API key (scopes search, write, admin), or the operator key for /v1/admin.",
            };
            document.Security ??= [];
            document.Security.Add(new OpenApiSecurityRequirement
            {
                [new OpenApiSecuritySchemeReference(Callers.Scheme, document)] = [],
            });
            return Task.CompletedTask;
        }));
        return builder;
    }

    /// <summary>Only keys with <paramref name="scope"/> may call these endpoints.</summary>
    public static TBuilder RequireScope<TBuilder>(this TBuilder endpoints, ApiKeyScopes scope)
        where TBuilder : IEndpointConventionBuilder => endpoints.RequireAuthorization(Callers.Policy(scope));

    public static WebApplication UseCatalogsAccess(this WebApplication app)
    {
        app.Services.GetRequiredService<OperatorKey>(); // now: a host without an operator key refuses to start
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseRateLimiter();
        return app;
    }
}
