using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AutoBuilder.Server.Auth;

/// <summary>Authenticates `Authorization: Bearer &lt;api key&gt;` against the hashed keys in the metadata store.</summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    ApiKeyService keys)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string AdminRole = "admin";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var key = BearerToken.From(Request);
        if (key is null)
        {
            return AuthenticateResult.NoResult();
        }

        var user = await keys.FindUserAsync(key, Context.RequestAborted);
        if (user is null)
        {
            return AuthenticateResult.Fail("The API key is not valid.");
        }

        List<Claim> claims = [new(ClaimTypes.Name, user.Name)];
        if (user.IsAdmin)
        {
            claims.Add(new Claim(ClaimTypes.Role, AdminRole));
        }

        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName)), SchemeName));
    }
}

public static class BearerToken
{
    public static string? From(Microsoft.AspNetCore.Http.HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        return header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) && header.Length > scheme.Length
            ? header[scheme.Length..].Trim()
            : null;
    }
}

/// <summary>Who is calling, as the endpoints need it.</summary>
public sealed record Caller(string Name, bool IsAdmin)
{
    public static Caller From(ClaimsPrincipal principal) =>
        new(principal.Identity?.Name ?? throw new InvalidOperationException("Unauthenticated caller."), principal.IsInRole(ApiKeyAuthenticationHandler.AdminRole));
}
