using System.Text.RegularExpressions;

namespace AutoBuilder.Core;

/// <summary>
/// Masks secrets in text bound for a log: API keys (<c>abk_…</c>), build tokens
/// (<c>{32 hex}.{attempt}.{mac}</c>) and URL signatures (<c>sig=…</c>). What identifies the secret
/// (the prefix, the build id) stays readable; the secret part becomes <see cref="Mask"/>.
/// </summary>
public static partial class SecretRedactor
{
    public const string Mask = "***";

    /// <summary>The text with every secret masked; the same instance when there is none.</summary>
    public static string Redact(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!MayContainSecret(text))
        {
            return text;
        }

        text = ApiKey().Replace(text, "abk_" + Mask);
        text = BuildToken().Replace(text, "${id}." + Mask);
        return Signature().Replace(text, "${name}=" + Mask);
    }

    /// <summary>A cheap pre-check: false means <see cref="Redact"/> would change nothing.</summary>
    public static bool MayContainSecret(ReadOnlySpan<char> text) =>
        text.Contains("abk_", StringComparison.OrdinalIgnoreCase)
        || text.Contains("sig", StringComparison.OrdinalIgnoreCase)
        || text.Contains('.');

    // Keys are "abk_" + base64url; anything key-shaped is masked, whatever its length.
    [GeneratedRegex(@"abk_[A-Za-z0-9_\-]+", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex ApiKey();

    // "{buildId}.{attempt}.{mac}": the build id (32 hex) and attempt stay, the MAC goes.
    [GeneratedRegex(@"(?<id>\b[0-9a-fA-F]{32}\.[0-9]{1,9})\.[A-Za-z0-9_\-]+", RegexOptions.CultureInvariant)]
    private static partial Regex BuildToken();

    // sig=… in a query string, JSON or a header, also URL-encoded once (sig%3D…).
    [GeneratedRegex(@"(?<name>\bsig)(=|%3[dD])[^&\s""'<>;,]+", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex Signature();
}
