using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using AutoBuilder.Core;

namespace AutoBuilder.Server.Auth;

/// <summary>
/// Build tokens: "{buildId}.{attempt}.{mac}", an HMAC over the build and attempt. They are stateless, so a
/// token from an older attempt is still recognised — and answered 409 rather than 401 — once a newer one runs.
/// </summary>
public sealed class BuildTokenService(ServerSecrets secrets)
{
    public string Issue(string buildId, int attempt) =>
        $"{buildId}.{attempt.ToString(CultureInfo.InvariantCulture)}.{Mac(buildId, attempt)}";

    /// <summary>The build and attempt a genuine token names, or null for anything forged or garbled.</summary>
    public (string BuildId, int Attempt)? Verify(string? token)
    {
        var parts = token?.Split('.');
        if (parts is not { Length: 3 } || !Ids.IsValidGeneratedId(parts[0])
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var attempt) || attempt < 1)
        {
            return null;
        }

        var expected = Encoding.ASCII.GetBytes(Mac(parts[0], attempt));
        var given = Encoding.ASCII.GetBytes(parts[2]);
        return CryptographicOperations.FixedTimeEquals(expected, given) ? (parts[0], attempt) : null;
    }

    private string Mac(string buildId, int attempt) =>
        ApiKeyService.Base64Url(HMACSHA256.HashData(secrets.BuildTokenKey, Encoding.UTF8.GetBytes($"build-token\n{buildId}\n{attempt}")));
}
