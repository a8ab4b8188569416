using System.Text;
using AutoBuilder.Core;

namespace AutoBuilder.Cli.Client;

/// <summary>Derives a project id from the folder or ZIP a user builds.</summary>
public static class ProjectIds
{
    public const string Rule = "lower-case letters, digits and dashes, 1-63 characters, starting with a letter or digit";

    /// <summary>
    /// The folder's name (or the ZIP's name without ".zip"), lower-cased, every character other than
    /// a-z, 0-9 and '-' replaced by '-', runs of '-' collapsed and leading/trailing '-' trimmed.
    /// Returns null when no valid id results (e.g. a name of only non-ASCII letters, or longer than 63).
    /// </summary>
    public static string? TryDerive(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var full = Path.GetFullPath(path).TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar);
        var name = Path.GetFileName(full);
        if (name.EndsWith(".zip", StringComparison.OrdinalIgnoreCase) && File.Exists(full))
        {
            name = name[..^4];
        }

        return TryDeriveFromName(name);
    }

    public static string? TryDeriveFromName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var builder = new StringBuilder(name.Length);
        foreach (var c in name.ToLowerInvariant())
        {
            var mapped = c is (>= 'a' and <= 'z') or (>= '0' and <= '9') ? c : '-';
            if (mapped == '-' && (builder.Length == 0 || builder[^1] == '-'))
            {
                continue;
            }

            builder.Append(mapped);
        }

        var id = builder.ToString().TrimEnd('-');
        return Ids.IsValidProjectId(id) ? id : null;
    }
}
