namespace AutoBuilder.Core.Archives;

/// <summary>
/// The rule for names inside an uploaded archive, shared by the API (which refuses bad uploads) and the runner
/// (which refuses to extract them): relative, '/'-separated, no traversal, no drive letters, no control characters.
/// </summary>
public static class ArchiveEntryNames
{
    /// <summary>Why the entry name is unsafe, or null when it is fine.</summary>
    public static string? FindProblem(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0)
        {
            return "has an empty name";
        }

        if (name.Contains('\0', StringComparison.Ordinal) || name.Any(char.IsControl))
        {
            return "has a control character in its name";
        }

        var normalized = name.Replace('\\', '/');
        if (normalized.StartsWith('/'))
        {
            return "has an absolute path";
        }

        if (normalized.Length >= 2 && normalized[1] == ':' && char.IsAsciiLetter(normalized[0]))
        {
            return "has a drive letter";
        }

        foreach (var segment in normalized.Split('/'))
        {
            if (segment == "..")
            {
                return "would land outside the workspace ('..' in its path)";
            }
        }

        return null;
    }
}
