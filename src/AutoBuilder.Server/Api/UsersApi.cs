using AutoBuilder.Core;
using AutoBuilder.Core.Api;
using AutoBuilder.Server.Auth;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace AutoBuilder.Server.Api;

/// <summary>/api/v1/users/{name}/keys and /api/v1/keys: admin-only key management.</summary>
public static class UsersApi
{
    public static RouteGroupBuilder MapUsersApi(this RouteGroupBuilder api)
    {
        var admin = api.MapGroup("").RequireAuthorization(policy => policy.RequireRole(ApiKeyAuthenticationHandler.AdminRole));

        admin.MapPost("/users/{name}/keys", CreateKeyAsync);
        admin.MapGet("/keys", ListKeysAsync);
        admin.MapDelete("/keys/{keyId}", RevokeKeyAsync);
        return api;
    }

    /// <summary>?admin=true gives the user the admin role; the key is in this answer only.</summary>
    private static async Task<Results<Created<ApiKeyCreated>, ProblemHttpResult>> CreateKeyAsync(string name, bool? admin, HttpContext context, ApiKeyService keys)
    {
        if (!Ids.IsValidUserName(name))
        {
            return ApiProblems.BadRequest("Invalid user name", $"'{Printable.Of(name, 80)}' is not a valid user name: use 1–63 lower-case letters, digits and dashes, starting with a letter or digit.");
        }

        var (keyId, key) = await keys.CreateKeyAsync(name, isAdmin: admin == true, context.RequestAborted);
        return TypedResults.Created($"/api/v1/keys/{keyId}", new ApiKeyCreated(name, keyId, key));
    }

    private static async Task<Ok<IReadOnlyList<ApiKeyDto>>> ListKeysAsync(HttpContext context, ApiKeyService keys) =>
        TypedResults.Ok(await keys.ListAsync(context.RequestAborted));

    private static async Task<Results<Ok<ApiKeyDto>, ProblemHttpResult>> RevokeKeyAsync(string keyId, HttpContext context, ApiKeyService keys) =>
        await keys.RevokeAsync(keyId, context.RequestAborted) is { } revoked
            ? TypedResults.Ok(revoked)
            : ApiProblems.NotFound("Key", keyId);
}
