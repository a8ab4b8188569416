using AutoBuilder.Core;
using AutoBuilder.Core.Api;
using AutoBuilder.Server.Auth;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace AutoBuilder.Server.Api;

/// <summary>/api/v1/users: admin-only key issuing (full user management comes later).</summary>
public static class UsersApi
{
    public static RouteGroupBuilder MapUsersApi(this RouteGroupBuilder api)
    {
        api.MapPost("/users/{name}/keys", async (string name, HttpContext context, ApiKeyService keys) =>
        {
            if (!Ids.IsValidUserName(name))
            {
                return ApiProblems.BadRequest("Invalid user name", "Use 1–63 lower-case letters, digits and dashes, starting with a letter or digit.");
            }

            var (keyId, key) = await keys.CreateKeyAsync(name, isAdmin: false, context.RequestAborted);
            return Results.Created($"/api/v1/users/{name}/keys/{keyId}", new ApiKeyCreated(name, keyId, key));
        }).RequireAuthorization(policy => policy.RequireRole(ApiKeyAuthenticationHandler.AdminRole));

        return api;
    }
}
