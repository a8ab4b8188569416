using System.Buffers;
using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;
using AutoBuilder.Core.Archives;

namespace AutoBuilder.Runner.Staging;

/// <summary>What staging extracted, and where the project's root is.</summary>
public sealed record ExtractionResult(string SourceRoot, int FileCount, long TotalBytes);

/// <summary>
/// Extracts an untrusted ZIP into a folder without letting any entry write or point outside it
/// (zip-slip, absolute paths, drive letters, NUL, duplicates, escaping symlinks).
/// In-tree symlinks are created, after every other entry, and only when neither the link's
/// folder nor its target passes through another symlink: that keeps lexical and physical
/// resolution identical, so the in-tree check cannot be fooled by link chains.
/// Any violation throws <see cref="BuildFailureException"/> naming the entry; the caller fails the build.
/// </summary>
public static partial class SafeZipExtractor
{
    private const int UnixFileTypeMask = 0xF000; // S_IFMT
    private const int UnixSymlinkType = 0xA000;  // S_IFLNK
    private const int UnixAnyExecute = 0x49;     // 0111
    private const int MaxSymlinkTargetBytes = 4096;
    private const int CopyBufferSize = 128 * 1024;
    private const UnixFileMode RegularMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    private const UnixFileMode ExecutableMode = RegularMode | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    public static ExtractionResult Extract(string zipPath, string targetDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(zipPath);
        ArgumentException.ThrowIfNullOrEmpty(targetDirectory);

        var root = Path.GetFullPath(targetDirectory);
        Directory.CreateDirectory(root);

        ZipArchive archive;
        try
        {
            archive = ZipFile.OpenRead(zipPath);
        }
        catch (InvalidDataException ex)
        {
            throw new BuildFailureException($"staging: the source is not a valid ZIP archive ({ex.Message})", ex);
        }

        using (archive)
        {
            var plan = Plan(archive, root);
            var fileCount = 0;
            long totalBytes = 0;
            // One buffer and one directory check per folder, not per file: a source has thousands of small files.
            var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
            var created = new HashSet<string>(StringComparer.Ordinal) { root };
            try
            {
                foreach (var item in plan.Where(p => !p.IsSymlink))
                {
                    try
                    {
                        if (item.IsDirectory)
                        {
                            CreateDirectory(item.FullPath, created);
                            continue;
                        }

                        CreateDirectory(Path.GetDirectoryName(item.FullPath)!, created);
                        using (var input = item.Entry.Open())
                        using (var output = new FileStream(item.FullPath, CreateOptions(item.UnixMode)))
                        {
                            totalBytes += CopyDeclared(input, output, item.Entry, buffer);
                        }

                        fileCount++;
                    }
                    catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException)
                    {
                        throw new BuildFailureException($"staging: cannot extract entry '{item.Entry.FullName}': {ex.Message}", ex);
                    }
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }

            // Links last: no regular entry is ever written through a link.
            foreach (var item in plan.Where(p => p.IsSymlink))
            {
                try
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(item.FullPath)!);
                    File.CreateSymbolicLink(item.FullPath, item.SymlinkTarget!);
                    fileCount++;
                }
                catch (IOException ex)
                {
                    throw new BuildFailureException($"staging: cannot create symlink '{item.Entry.FullName}': {ex.Message}", ex);
                }
            }

            return new ExtractionResult(FindSourceRoot(root), fileCount, totalBytes);
        }
    }

    /// <summary>
    /// Copies an entry, refusing it when it inflates past the size the central directory declares: the API judged
    /// the upload by those sizes (Uploads:MaxUncompressedBytes, MaxCompressionRatio), so a lying header is a bomb.
    /// </summary>
    private static long CopyDeclared(Stream input, Stream output, ZipArchiveEntry entry, byte[] buffer)
    {
        long total = 0;
        int read;
        while ((read = input.Read(buffer, 0, buffer.Length)) > 0)
        {
            total += read;
            if (total > entry.Length)
            {
                throw Refuse(entry.FullName, $"inflates past its declared size of {entry.Length} bytes");
            }

            output.Write(buffer, 0, read);
        }

        return total;
    }

    private static void CreateDirectory(string path, HashSet<string> created)
    {
        if (created.Add(path))
        {
            Directory.CreateDirectory(path);
        }
    }

    /// <summary>Unbuffered (the copy writes whole buffers); executable entries are created executable (gradlew, build scripts).</summary>
    private static FileStreamOptions CreateOptions(int unixMode)
    {
        // Share: nothing else has the new file open, and an exclusive share costs a flock(2) per file.
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.ReadWrite | FileShare.Delete, BufferSize = 0 };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = (unixMode & UnixAnyExecute) != 0 ? ExecutableMode : RegularMode;
        }

        return options;
    }

    public static string FindSourceRoot(string directory)
    {
        var entries = Directory.GetFileSystemEntries(directory);
        if (entries.Length == 1 && Directory.Exists(entries[0]) && new DirectoryInfo(entries[0]).LinkTarget is null)
        {
            return entries[0];
        }

        return directory;
    }

    private sealed record PlannedEntry(ZipArchiveEntry Entry, string RelativePath, string FullPath, bool IsDirectory, int UnixMode, string? SymlinkTarget)
    {
        public bool IsSymlink => SymlinkTarget is not null;
    }

    private static List<PlannedEntry> Plan(ZipArchive archive, string root)
    {
        var rootWithSeparator = root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var plan = new List<PlannedEntry>();

        foreach (var entry in archive.Entries)
        {
            var name = entry.FullName;
            var segments = ValidateName(name);
            var isDirectory = name.EndsWith('/') || name.EndsWith('\\');
            if (segments.Count == 0)
            {
                if (isDirectory)
                {
                    continue; // "./" or "/"-only directory entries carry nothing.
                }

                throw Refuse(name, "has an empty path");
            }

            var relative = string.Join('/', segments);
            var fullPath = Path.GetFullPath(Path.Combine(root, Path.Combine([.. segments])));
            if (!fullPath.StartsWith(rootWithSeparator, StringComparison.Ordinal))
            {
                throw Refuse(name, "resolves outside the source folder");
            }

            if (!seen.Add(relative))
            {
                // A directory listed twice is harmless; a file listed twice would be decided by order.
                if (isDirectory)
                {
                    continue;
                }

                throw Refuse(name, "is a duplicate entry");
            }

            var unixMode = (int)((uint)entry.ExternalAttributes >> 16);
            string? linkTarget = null;
            if ((unixMode & UnixFileTypeMask) == UnixSymlinkType)
            {
                linkTarget = ReadSymlinkTarget(entry);
            }

            plan.Add(new PlannedEntry(entry, relative, fullPath, isDirectory && linkTarget is null, unixMode, linkTarget));
        }

        var links = plan.Where(p => p.IsSymlink).Select(p => p.RelativePath).ToHashSet(StringComparer.Ordinal);
        foreach (var item in plan)
        {
            var parentSegments = item.RelativePath.Split('/')[..^1];
            if (PassesThroughLink(parentSegments, links))
            {
                throw Refuse(item.Entry.FullName, "lies inside a symlink of the archive");
            }

            if (item.IsSymlink)
            {
                CheckSymlinkTarget(item, parentSegments, links);
            }
        }

        return plan;
    }

    private static List<string> ValidateName(string name) =>
        ArchiveEntryNames.FindProblem(name) is { } problem ? throw Refuse(name, problem) : [.. ArchiveEntryNames.Segments(name)];

    private static string ReadSymlinkTarget(ZipArchiveEntry entry)
    {
        if (entry.Length > MaxSymlinkTargetBytes)
        {
            throw Refuse(entry.FullName, "is a symlink with an oversized target");
        }

        using var stream = entry.Open();
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var target = reader.ReadToEnd();
        if (target.Length == 0 || target.Contains('\0', StringComparison.Ordinal))
        {
            throw Refuse(entry.FullName, "is a symlink with an empty or NUL-containing target");
        }

        return target;
    }

    private static void CheckSymlinkTarget(PlannedEntry item, string[] parentSegments, HashSet<string> links)
    {
        var target = item.SymlinkTarget!;
        if (target.StartsWith('/') || target.StartsWith('\\') || DriveLetter().IsMatch(target))
        {
            throw Refuse(item.Entry.FullName, $"is a symlink to an absolute path ('{target}'), outside the source folder");
        }

        // Walk the target from the link's folder, one segment at a time, as the kernel would.
        var current = new List<string>(parentSegments);
        foreach (var segment in target.Split('/'))
        {
            if (segment is "" or ".")
            {
                continue;
            }

            if (segment is "..")
            {
                if (current.Count == 0)
                {
                    throw Refuse(item.Entry.FullName, $"is a symlink pointing outside the source folder ('{target}')");
                }

                current.RemoveAt(current.Count - 1);
                continue;
            }

            current.Add(segment);
            if (links.Contains(string.Join('/', current)))
            {
                throw Refuse(item.Entry.FullName, $"is a symlink through another symlink ('{target}')");
            }
        }
    }

    private static bool PassesThroughLink(string[] parentSegments, HashSet<string> links)
    {
        for (var i = 1; i <= parentSegments.Length; i++)
        {
            if (links.Contains(string.Join('/', parentSegments[..i])))
            {
                return true;
            }
        }

        return false;
    }

    private static BuildFailureException Refuse(string entryName, string reason) =>
        new($"staging: refused ZIP entry '{entryName.Replace("\0", "\\0", StringComparison.Ordinal)}': it {reason}");

    [GeneratedRegex("^[A-Za-z]:")]
    private static partial Regex DriveLetter();
}
