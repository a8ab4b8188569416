using System.Text.RegularExpressions;

namespace AutoBuilder.Core;

/// <summary>
/// Validation and generation of every id that ends up in a blob path or a URL. Patterns are anchored with \A and \z:
/// in .NET '$' also matches before a final '\n', which let "abc\n" through as a valid id.
/// </summary>
public static partial class Ids
{
    /// <summary>Project ids: lower-case letters, digits and dashes, 1–63 characters, not starting with a dash.</summary>
    public static bool IsValidProjectId(string? value) => value is not null && ProjectIdPattern().IsMatch(value);

    /// <summary>Generated ids (sources, builds, keys): 32 lower-case hex digits, time-ordered.</summary>
    public static bool IsValidGeneratedId(string? value) => value is not null && GeneratedIdPattern().IsMatch(value);

    /// <summary>User names: like project ids.</summary>
    public static bool IsValidUserName(string? value) => IsValidProjectId(value);

    /// <summary>Artifact versions: what Maven, npm and SemVer allow, without path characters.</summary>
    public static bool IsValidVersion(string? value) => value is not null && VersionPattern().IsMatch(value) && !value.Contains("..", StringComparison.Ordinal);

    /// <summary>A single file name for an artifact: no folders, no traversal.</summary>
    public static bool IsValidFileName(string? value) =>
        value is not null && FileNamePattern().IsMatch(value) && value is not "." and not ".." && !value.Contains("..", StringComparison.Ordinal);

    /// <summary>A new time-ordered id (UUID v7 as 32 hex digits).</summary>
    public static string NewId() => Guid.CreateVersion7().ToString("N");

    [GeneratedRegex(@"\A[a-z0-9][a-z0-9-]{0,62}\z")]
    private static partial Regex ProjectIdPattern();

    [GeneratedRegex(@"\A[0-9a-f]{32}\z")]
    private static partial Regex GeneratedIdPattern();

    [GeneratedRegex(@"\A[A-Za-z0-9][A-Za-z0-9._+-]{0,127}\z")]
    private static partial Regex VersionPattern();

    [GeneratedRegex(@"\A[A-Za-z0-9_][A-Za-z0-9._+-]{0,254}\z")]
    private static partial Regex FileNamePattern();
}
