using Microsoft.Extensions.FileSystemGlobbing;

namespace AutoBuilder.Runner.Publishing;

/// <summary>
/// Finds the files a build declared (globs relative to the source root; '!' excludes).
/// Symlinks that lead outside the source root are skipped: a build must not be able to
/// publish the host's files by linking to them. Only regular files are published: FIFOs, sockets and devices are
/// skipped (and named through onSkipped) without being opened, as opening a FIFO blocks.
/// </summary>
public static class OutputMatcher
{
    /// <summary>Matching files as '/'-separated paths relative to <paramref name="root"/>, sorted ordinally.</summary>
    public static IReadOnlyList<string> Match(string root, IReadOnlyList<string> patterns, Action<string>? onSkipped = null)
    {
        ArgumentNullException.ThrowIfNull(patterns);
        if (patterns.Count == 0 || !Directory.Exists(root))
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

        var fullRoot = Path.GetFullPath(root);
        var files = new List<string>();
        foreach (var file in matcher.GetResultsInFullPath(fullRoot))
        {
            var relative = Path.GetRelativePath(fullRoot, file).Replace('\\', '/');
            if (!StaysInside(fullRoot, relative))
            {
                onSkipped?.Invoke($"skipped '{relative}': it is a symlink leading outside the source folder");
                continue;
            }

            var kind = FileKinds.Of(file);
            if (kind != FileKind.Regular)
            {
                onSkipped?.Invoke($"skipped '{relative}': it is {FileKinds.Describe(kind)}; only regular files are published");
                continue;
            }

            files.Add(relative);
        }

        files.Sort(StringComparer.Ordinal);
        return files;
    }

    /// <summary>True when no component of the path is a symlink that resolves outside the root.</summary>
    public static bool StaysInside(string fullRoot, string relative)
    {
        var rootWithSeparator = fullRoot.EndsWith(Path.DirectorySeparatorChar) ? fullRoot : fullRoot + Path.DirectorySeparatorChar;
        var current = fullRoot;
        foreach (var segment in relative.Split('/'))
        {
            current = Path.Combine(current, segment);
            FileSystemInfo info = Directory.Exists(current) ? new DirectoryInfo(current) : new FileInfo(current);
            if (info.LinkTarget is null)
            {
                continue;
            }

            var target = info.ResolveLinkTarget(returnFinalTarget: true);
            if (target is null || !Path.GetFullPath(target.FullName).StartsWith(rootWithSeparator, StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }
}
