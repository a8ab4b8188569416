using System.Text;
using AutoBuilder.Core;
using Microsoft.Extensions.FileSystemGlobbing;

namespace AutoBuilder.Runner.Publishing;

/// <summary>One entry of a listing of the build's tree: its '/'-separated path under the source root, its own kind (links not followed) and size.</summary>
public sealed record ListedEntry(string Path, FileKind Kind, long Size);

/// <summary>
/// Finds the files a build declared (globs relative to the source root; '!' excludes) in a listing of its tree, as
/// data: nothing here touches the disk. The listing never descends into a link, so neither does a glob (lstat
/// semantics): a link matched by a glob is itself an entry, which — like a FIFO, a socket or a device — is skipped and
/// named, never followed or opened. Only regular files are published.
/// </summary>
public static class OutputMatcher
{
    /// <summary>Where the matcher pretends the listing lies: it only joins and splits paths under it.</summary>
    private const string ListingRoot = "/listing";

    /// <summary>The matching entries (every kind but folders), sorted ordinally by path.</summary>
    public static IReadOnlyList<ListedEntry> Match(IReadOnlyList<ListedEntry> listing, IReadOnlyList<string> patterns)
    {
        ArgumentNullException.ThrowIfNull(listing);
        ArgumentNullException.ThrowIfNull(patterns);
        if (patterns.Count == 0)
        {
            return [];
        }

        var matcher = new Matcher(StringComparison.Ordinal);
        foreach (var pattern in patterns)
        {
            if (pattern.StartsWith('!'))
            {
                matcher.AddExclude(pattern[1..]);
            }
            else
            {
                matcher.AddInclude(pattern);
            }
        }

        // The matcher reads '\' as a separator: such names (and folders, which it infers from the files) stay out.
        var byPath = new Dictionary<string, ListedEntry>(StringComparer.Ordinal);
        foreach (var entry in listing)
        {
            if (entry.Kind != FileKind.Directory && !entry.Path.Contains('\\', StringComparison.Ordinal))
            {
                byPath.TryAdd(entry.Path, entry);
            }
        }

        var matched = new List<ListedEntry>();
        foreach (var file in matcher.Match(ListingRoot, byPath.Keys).Files)
        {
            if (byPath.TryGetValue(file.Path, out var entry))
            {
                matched.Add(entry);
            }
        }

        matched.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        return matched;
    }

    /// <summary>The regular files among <paramref name="matched"/>; every other entry is named through <paramref name="onSkipped"/>.</summary>
    public static IReadOnlyList<string> RegularFiles(IReadOnlyList<ListedEntry> matched, Action<string>? onSkipped = null)
    {
        ArgumentNullException.ThrowIfNull(matched);
        var files = new List<string>(matched.Count);
        foreach (var entry in matched)
        {
            if (entry.Kind == FileKind.Regular)
            {
                files.Add(entry.Path);
            }
            else
            {
                onSkipped?.Invoke(SkipLine(entry.Path, entry.Kind));
            }
        }

        return files;
    }

    /// <summary>How a log line names an entry that is not published (its name escaped: it is the build's).</summary>
    public static string SkipLine(string path, FileKind kind) =>
        $"skipped '{Printable.Of(path)}': it is {FileKinds.Describe(kind)}; only regular files are published";

    /// <summary>
    /// Matches a tree the caller may read itself, listed as the caller's user without a sandbox (tools and tests; the
    /// runner lists the build's tree through <see cref="OutputCollector"/>, as the build user).
    /// </summary>
    /// <returns>Matching regular files as '/'-separated paths relative to <paramref name="root"/>, sorted ordinally.</returns>
    public static IReadOnlyList<string> Match(string root, IReadOnlyList<string> patterns, Action<string>? onSkipped = null)
    {
        ArgumentNullException.ThrowIfNull(patterns);
        if (patterns.Count == 0 || !Directory.Exists(root))
        {
            return [];
        }

        var listing = OutputCollector.ListAsync(new BuildView(Path.GetFullPath(root)), patterns, OutputCollector.DefaultTimeout)
            .ConfigureAwait(false).GetAwaiter().GetResult();
        return RegularFiles(Match(listing, patterns), onSkipped);
    }

    /// <summary>
    /// The find(1) expression that lists only what <paramref name="patterns"/> can match: each include's folders down
    /// to its literal prefix, and below that as deep as its wildcards reach (all the way for '**'). Started at ".",
    /// so every folder on the way is listed with its own kind and a link on the way is never descended.
    /// </summary>
    public static List<string> FindExpression(IEnumerable<string> patterns)
    {
        ArgumentNullException.ThrowIfNull(patterns);
        var descend = new List<List<string>>();
        foreach (var pattern in patterns.Where(p => !p.StartsWith('!')))
        {
            var segments = pattern.Replace('\\', '/').Split('/', StringSplitOptions.RemoveEmptyEntries).Where(s => s != ".").ToList();
            if (segments.Count == 0)
            {
                continue;
            }

            // The literal folders before the first wildcard ('*' and '**' are the matcher's only ones); never the file name.
            var literal = segments.Take(segments.Count - 1).TakeWhile(s => !s.Contains('*', StringComparison.Ordinal) && s != "..").ToList();
            var rest = segments.Skip(literal.Count).ToList();
            var folder = ".";
            foreach (var segment in literal)
            {
                folder = $"{folder}/{Escape(segment)}";
                descend.Add(["-path", folder]);
            }

            if (rest.Contains("**") || rest.Exists(s => s.Contains("**", StringComparison.Ordinal)))
            {
                if (folder == ".")
                {
                    return []; // the whole tree: nothing to prune.
                }

                descend.Add(["-path", $"{folder}/*"]);
            }
            else if (rest.Count > 1)
            {
                // Folders at depths 1 .. rest.Count - 1 below the literal prefix ('*' in -path spans '/').
                descend.Add(["-path", $"{folder}/*", "!", "-path", folder + string.Concat(Enumerable.Repeat("/*", rest.Count))]);
            }
        }

        var expression = new List<string> { "(" };
        foreach (var condition in descend.DistinctBy(c => string.Join('\0', c)))
        {
            if (expression.Count > 1)
            {
                expression.Add("-o");
            }

            expression.AddRange(["(", .. condition, ")"]);
        }

        if (expression.Count == 1)
        {
            expression.Add("-false");
        }

        expression.AddRange(["-o", "-prune", ")"]);
        return expression;
    }

    /// <summary>A literal name in a find -path pattern.</summary>
    private static string Escape(string segment)
    {
        var escaped = new StringBuilder(segment.Length);
        foreach (var c in segment)
        {
            if (c is '\\' or '*' or '?' or '[' or ']')
            {
                escaped.Append('\\');
            }

            escaped.Append(c);
        }

        return escaped.ToString();
    }
}
