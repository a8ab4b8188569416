using System.Security.Cryptography;
using System.Text;
using AutoBuilder.Core;

namespace AutoBuilder.Server.LegacyImport;

/// <summary>
/// Turns the names of a legacy volume into AutoBuilder ids and file names, and derives the ids of imported records.
/// A name AutoBuilder accepts is kept as it is; any other (Unicode, spaces, upper case) becomes a readable ASCII form
/// plus 8 hex digits of the original's hash, so two legacy names never meet in one id. Everything here is
/// deterministic: a second run maps every name and record to exactly what the first one did.
/// </summary>
public static class LegacyNames
{
    private const int HashLength = 8;

    public static string ProjectId(string legacyName)
    {
        ArgumentNullException.ThrowIfNull(legacyName);
        if (Ids.IsValidProjectId(legacyName))
        {
            return legacyName;
        }

        var slug = Slug(legacyName.ToLowerInvariant(), c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9'), '-', 50).Trim('-');
        var id = $"{(slug.Length == 0 ? "project" : slug)}-{Hash(legacyName)}";
        return Ids.IsValidProjectId(id) ? id : throw new InvalidOperationException($"No project id could be made of '{legacyName}'.");
    }

    public static string Version(string legacyName)
    {
        ArgumentNullException.ThrowIfNull(legacyName);
        if (Ids.IsValidVersion(legacyName))
        {
            return legacyName;
        }

        var slug = Collapse(Slug(legacyName, IsAsciiFileChar, '_', 100)).Trim('.', '_', '-', '+');
        var version = $"{(slug.Length == 0 ? "v" : slug)}-{Hash(legacyName)}";
        return Ids.IsValidVersion(version) ? version : throw new InvalidOperationException($"No version could be made of '{legacyName}'.");
    }

    public static string FileName(string legacyName)
    {
        ArgumentNullException.ThrowIfNull(legacyName);
        if (Ids.IsValidFileName(legacyName))
        {
            return legacyName;
        }

        // Keep a plain extension (".jar", ".log"), so the file still opens with the right program.
        var extension = Path.GetExtension(legacyName);
        if (extension.Length is < 2 or > 16 || !extension[1..].All(char.IsAsciiLetterOrDigit))
        {
            extension = "";
        }

        var stem = Collapse(Slug(legacyName[..^extension.Length], IsAsciiFileChar, '_', 200)).Trim('.', '-', '+', '_');
        var name = $"{(stem.Length == 0 ? "file" : stem)}-{Hash(legacyName)}{extension}";
        return Ids.IsValidFileName(name) ? name : throw new InvalidOperationException($"No file name could be made of '{legacyName}'.");
    }

    /// <summary>The id of an imported record (source, build): 32 hex digits of a hash of what it was imported from.</summary>
    public static string RecordId(string kind, string legacyProject) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"autobuilder-migrate/{kind}/{legacyProject}")))[..32];

    private static string Hash(string value) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(value)))[..HashLength];

    private static bool IsAsciiFileChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '+' or '-';

    /// <summary>
    /// Every character the target does not allow becomes one <paramref name="replacement"/> (runs collapse). No
    /// transliteration: the build runs with invariant globalization, and the hash suffix keeps names apart anyway.
    /// </summary>
    private static string Slug(string value, Func<char, bool> allowed, char replacement, int maxLength)
    {
        var builder = new StringBuilder(value.Length);
        foreach (var c in value)
        {
            var next = allowed(c) ? c : replacement;
            if (next == replacement && builder.Length > 0 && builder[^1] == replacement)
            {
                continue;
            }

            builder.Append(next);
            if (builder.Length == maxLength)
            {
                break;
            }
        }

        return builder.ToString();
    }

    private static string Collapse(string value)
    {
        while (value.Contains("..", StringComparison.Ordinal))
        {
            value = value.Replace("..", ".", StringComparison.Ordinal);
        }

        return value;
    }
}
