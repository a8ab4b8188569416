namespace AutoBuilder.Core.Archives;

/// <summary>
/// The rule for names inside an uploaded archive, shared by the API (which refuses bad uploads) and the runner
/// (which refuses to extract them): relative, '/'-separated, no traversal, no drive letters, no control characters.
/// ZIPs made on Windows may use '\': it counts as a separator, so "..\x" is seen for what it is.
/// </summary>
public static class ArchiveEntryNames
{
    /// <summary>Why the entry name is unsafe (a phrase that follows "it"), or null when it is fine.</summary>
    public static string? FindProblem(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0)
        {
            return "has an empty name";
        }

        if (name.Contains('\0', StringComparison.Ordinal))
        {
            return "contains a NUL character";
        }

        if (name.Any(char.IsControl))
        {
            return "contains a control character";
        }

        if (name.Length >= 2 && name[1] == ':' && char.IsAsciiLetter(name[0]))
        {
            return "has a drive letter";
        }

        var normalized = name.Replace('\\', '/');
        if (normalized.StartsWith('/'))
        {
            return "is an absolute path";
        }

        return normalized.Split('/').Contains("..") ? "contains a '..' segment" : null;
    }

    /// <summary>The path segments of a safe name, without empty and "." segments.</summary>
    public static IReadOnlyList<string> Segments(string name) =>
        name.Replace('\\', '/').Split('/').Where(s => s is not ("" or ".")).ToList();
}
