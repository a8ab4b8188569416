namespace AutoBuilder.Core.Storage;

/// <summary>
/// The one rule for a blob's path inside its container, kept by <see cref="BlobLayout"/> and by every store: relative,
/// '/'-separated, without empty, '.' or '..' segments, backslashes or control characters. A path that keeps it names the
/// same blob on every backend and cannot walk out of its container.
/// </summary>
public static class BlobPath
{
    /// <summary>Why <paramref name="path"/> breaks the rule, as a sentence; null when it keeps it.</summary>
    public static string? FindProblem(string? path)
    {
        if (string.IsNullOrEmpty(path))
        {
            return "A blob path must not be empty.";
        }

        if (path.StartsWith('/'))
        {
            return $"Blob path '{path}' must be relative.";
        }

        if (path.Contains('\\', StringComparison.Ordinal))
        {
            return $"Blob path '{path}' must use '/' separators, not backslashes.";
        }

        if (path.Any(char.IsControl))
        {
            return $"Blob path '{path.Replace("\0", "\\0", StringComparison.Ordinal)}' must not contain NUL or control characters.";
        }

        if (path.Split('/').Any(segment => segment.Length == 0 || segment is "." or ".."))
        {
            return $"Blob path '{path}' must not contain empty, '.' or '..' segments.";
        }

        return null;
    }

    public static bool IsValid(string? path) => FindProblem(path) is null;

    /// <summary>Returns <paramref name="path"/> when it keeps the rule.</summary>
    /// <exception cref="ArgumentException">It does not; the message says why.</exception>
    public static string Require(string? path, string parameterName) =>
        FindProblem(path) is { } problem ? throw new ArgumentException(problem, parameterName) : path!;

    /// <summary>
    /// Returns a list prefix ("" for null) when it is relative, '/'-separated and free of backslashes and control
    /// characters. A prefix may end anywhere, even inside a segment, so it is not held to the whole path rule.
    /// </summary>
    /// <exception cref="ArgumentException">It is not.</exception>
    public static string RequirePrefix(string? prefix, string parameterName)
    {
        prefix ??= "";
        if (prefix.Contains('\\', StringComparison.Ordinal) || prefix.Any(char.IsControl) || prefix.StartsWith('/'))
        {
            throw new ArgumentException($"Invalid blob prefix '{prefix}': it must be relative, '/'-separated and free of backslashes and control characters.", parameterName);
        }

        return prefix;
    }
}
