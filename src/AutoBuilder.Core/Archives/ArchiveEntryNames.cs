namespace AutoBuilder.Core.Archives;

/// <summary>
/// The rule for names inside an uploaded archive, shared by the API (which refuses bad uploads) and the runner
/// (which refuses to extract them), through <see cref="ArchiveRules"/>: relative, '/'-separated, no traversal, no drive
/// letters, no control characters.
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

        // Trojan-source names: a right-to-left override makes "evil\u202Etxt.sh" display as "evilhs.txt".
        if (name.Any(IsBidiControl))
        {
            return "contains a bidirectional text control character (U+202A–U+202E, U+2066–U+2069)";
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

    /// <summary>
    /// Why a symlink entry's target is unsafe, or null: it must be relative and, walked lexically from the link's
    /// folder, never climb above the archive's root. (<see cref="ArchiveRules"/> also refuses links through other links.)
    /// </summary>
    public static string? FindSymlinkTargetProblem(string entryName, string target)
    {
        ArgumentNullException.ThrowIfNull(entryName);
        ArgumentNullException.ThrowIfNull(target);
        if (target.Length == 0 || target.Contains('\0', StringComparison.Ordinal))
        {
            return "is a symlink with an empty or NUL-containing target";
        }

        var normalized = target.Replace('\\', '/');
        if (normalized.StartsWith('/') || (target.Length >= 2 && target[1] == ':' && char.IsAsciiLetter(target[0])))
        {
            return "is a symlink to an absolute path, outside the source folder";
        }

        var depth = Segments(entryName).Count - 1;
        foreach (var segment in normalized.Split('/'))
        {
            if (segment is "" or ".")
            {
                continue;
            }

            depth += segment == ".." ? -1 : 1;
            if (depth < 0)
            {
                return "is a symlink pointing outside the source folder";
            }
        }

        return null;
    }

    private static bool IsBidiControl(char c) => c is >= '\u202A' and <= '\u202E' or >= '\u2066' and <= '\u2069';

    /// <summary>The path segments of a safe name, without empty and "." segments.</summary>
    public static IReadOnlyList<string> Segments(string name) =>
        name.Replace('\\', '/').Split('/').Where(s => s is not ("" or ".")).ToList();
}
