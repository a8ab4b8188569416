using System.IO.Compression;
using System.Text;

namespace AutoBuilder.Core.Archives;

/// <summary>What kind of rule an archive broke; the API picks its problem title by it.</summary>
public enum ArchiveProblemKind
{
    UnsafeName,
    Duplicate,
    UnsafeSymlink,
    Corrupt,
}

/// <summary>An archive entry broke one of <see cref="ArchiveRules"/>; <see cref="Problem"/> is a phrase that follows "it".</summary>
public sealed class UnsafeArchiveException(string entryName, ArchiveProblemKind kind, string problem)
    : Exception($"entry '{Printable.Of(entryName)}' {problem}")
{
    public string EntryName { get; } = entryName;

    public ArchiveProblemKind Kind { get; } = kind;

    public string Problem { get; } = problem;
}

/// <summary>One entry that passed the rules: its normalised path ('/'-separated, no "." or empty segments).</summary>
public sealed record ArchiveItem(ZipArchiveEntry Entry, string RelativePath, bool IsDirectory, int UnixMode, string? SymlinkTarget)
{
    public bool IsSymlink => SymlinkTarget is not null;
}

/// <summary>
/// The one rule for an uploaded archive's entries, applied by the API when it accepts an upload and by the runner
/// before it extracts one, so the two cannot disagree: safe names (<see cref="ArchiveEntryNames"/>), no two entries
/// at one path after normalisation ("build.sh" and "./build.sh"), no path both a file and a folder, symlinks that stay
/// inside and neither lie inside nor point through another symlink (so lexical and physical resolution agree), and
/// no entry holding more compressed data than its declared size could produce. Reads symlink targets only.
/// </summary>
public static class ArchiveRules
{
    private const int UnixFileTypeMask = 0xF000; // S_IFMT
    private const int UnixSymlinkType = 0xA000;  // S_IFLNK
    private const int MaxSymlinkTargetBytes = 4096;

    /// <summary>The entries in archive order, or <see cref="UnsafeArchiveException"/> for the first that breaks a rule.</summary>
    public static IReadOnlyList<ArchiveItem> Check(ZipArchive archive)
    {
        ArgumentNullException.ThrowIfNull(archive);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var items = new List<ArchiveItem>();
        foreach (var entry in archive.Entries)
        {
            var name = entry.FullName;
            if (ArchiveEntryNames.FindProblem(name) is { } problem)
            {
                throw new UnsafeArchiveException(name, ArchiveProblemKind.UnsafeName, problem);
            }

            CheckDeclaredSize(entry);
            var isDirectory = name.EndsWith('/') || name.EndsWith('\\');
            var relative = string.Join('/', ArchiveEntryNames.Segments(name));
            if (relative.Length == 0)
            {
                // "./" carries nothing; a file needs a name.
                if (isDirectory)
                {
                    continue;
                }

                throw new UnsafeArchiveException(name, ArchiveProblemKind.UnsafeName, "has an empty path");
            }

            if (!seen.Add(relative))
            {
                // A folder listed twice is harmless; a file listed twice would be decided by order.
                if (isDirectory)
                {
                    continue;
                }

                throw new UnsafeArchiveException(name, ArchiveProblemKind.Duplicate, $"is a duplicate entry (another entry is '{Printable.Of(relative)}' too)");
            }

            var unixMode = (int)((uint)entry.ExternalAttributes >> 16);
            var target = (unixMode & UnixFileTypeMask) == UnixSymlinkType ? ReadSymlinkTarget(entry) : null;
            items.Add(new ArchiveItem(entry, relative, isDirectory && target is null, unixMode, target));
        }

        CheckTree(items);
        return items;
    }

    /// <summary>
    /// Deflate never grows data by more than a few bytes per block (an eighth at worst, fixed Huffman codes), so
    /// compressed data beyond that cannot come from the declared size: the header lies about a larger entry.
    /// </summary>
    public static void CheckDeclaredSize(ZipArchiveEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (entry.CompressedLength > entry.Length + (entry.Length / 8) + 1024)
        {
            throw new UnsafeArchiveException(entry.FullName, ArchiveProblemKind.Corrupt,
                $"is larger than its header says: {entry.CompressedLength} compressed bytes cannot come from the {entry.Length} bytes it declares");
        }
    }

    private static string ReadSymlinkTarget(ZipArchiveEntry entry)
    {
        if (entry.Length > MaxSymlinkTargetBytes)
        {
            throw new UnsafeArchiveException(entry.FullName, ArchiveProblemKind.UnsafeSymlink, "is a symlink with an oversized target");
        }

        using var stream = entry.Open();
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var target = reader.ReadToEnd();
        return ArchiveEntryNames.FindSymlinkTargetProblem(entry.FullName, target) is { } problem
            ? throw new UnsafeArchiveException(entry.FullName, ArchiveProblemKind.UnsafeSymlink, $"{problem} ('{Printable.Of(target)}')")
            : target;
    }

    /// <summary>Rules between entries: nothing inside or through a link, no path that is a file and a folder.</summary>
    private static void CheckTree(List<ArchiveItem> items)
    {
        var links = items.Where(i => i.IsSymlink).Select(i => i.RelativePath).ToHashSet(StringComparer.Ordinal);
        var folders = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            var parents = item.RelativePath.Split('/')[..^1];
            for (var i = 1; i <= parents.Length; i++)
            {
                var parent = string.Join('/', parents[..i]);
                if (links.Contains(parent))
                {
                    throw new UnsafeArchiveException(item.Entry.FullName, ArchiveProblemKind.UnsafeSymlink, "lies inside a symlink of the archive");
                }

                folders.Add(parent);
            }

            if (item.IsSymlink)
            {
                CheckLinkPath(item, parents, links);
            }
        }

        if (items.FirstOrDefault(i => !i.IsDirectory && folders.Contains(i.RelativePath)) is { } clash)
        {
            throw new UnsafeArchiveException(clash.Entry.FullName, ArchiveProblemKind.Duplicate, "is a file and also a folder of other entries");
        }
    }

    /// <summary>Walks the target from the link's folder, as the kernel would: no step may be another link of the archive.</summary>
    private static void CheckLinkPath(ArchiveItem item, string[] parents, HashSet<string> links)
    {
        var current = new List<string>(parents);
        foreach (var segment in item.SymlinkTarget!.Replace('\\', '/').Split('/'))
        {
            if (segment is "" or ".")
            {
                continue;
            }

            if (segment is "..")
            {
                current.RemoveAt(current.Count - 1); // never empty: FindSymlinkTargetProblem refused climbing out
                continue;
            }

            current.Add(segment);
            if (links.Contains(string.Join('/', current)))
            {
                throw new UnsafeArchiveException(item.Entry.FullName, ArchiveProblemKind.UnsafeSymlink,
                    $"is a symlink through another symlink ('{Printable.Of(item.SymlinkTarget)}')");
            }
        }
    }
}
