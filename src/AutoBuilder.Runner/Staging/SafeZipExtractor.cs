using System.Buffers;
using System.IO.Compression;
using System.IO.Hashing;
using AutoBuilder.Core;
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
public static class SafeZipExtractor
{
    private const int UnixAnyExecute = 0x49;     // 0111
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
    /// Copies an entry, refusing it when it holds more than the size its header declares: the API judged the upload by
    /// those sizes (Uploads:MaxUncompressedBytes, MaxCompressionRatio). .NET stops reading at the declared size, so a
    /// larger entry shows as a CRC-32 that does not match what was read: the archive is corrupt, never cut silently.
    /// </summary>
    private static long CopyDeclared(Stream input, Stream output, ZipArchiveEntry entry, byte[] buffer)
    {
        var crc = new Crc32();
        long total = 0;
        int read;
        while ((read = input.Read(buffer, 0, buffer.Length)) > 0)
        {
            total += read;
            if (total > entry.Length)
            {
                throw Corrupt(entry.FullName, $"is larger than its header says ({entry.Length} bytes)");
            }

            crc.Append(buffer.AsSpan(0, read));
            output.Write(buffer, 0, read);
        }

        if (crc.GetCurrentHashAsUInt32() != entry.Crc32)
        {
            throw Corrupt(entry.FullName, $"does not match its header's CRC-32: it is larger than its header says ({entry.Length} bytes), or damaged");
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

    private sealed record PlannedEntry(ZipArchiveEntry Entry, string FullPath, bool IsDirectory, int UnixMode, string? SymlinkTarget)
    {
        public bool IsSymlink => SymlinkTarget is not null;
    }

    /// <summary>The API's rule (<see cref="ArchiveRules"/>) again, then where each entry lands, which must be inside the root.</summary>
    private static List<PlannedEntry> Plan(ZipArchive archive, string root)
    {
        IReadOnlyList<ArchiveItem> items;
        try
        {
            items = ArchiveRules.Check(archive);
        }
        catch (UnsafeArchiveException ex)
        {
            throw ex.Kind == ArchiveProblemKind.Corrupt ? Corrupt(ex.EntryName, ex.Problem) : Refuse(ex.EntryName, ex.Problem);
        }

        var rootWithSeparator = root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar;
        var plan = new List<PlannedEntry>(items.Count);
        foreach (var item in items)
        {
            var fullPath = Path.GetFullPath(Path.Combine(root, Path.Combine(item.RelativePath.Split('/'))));
            if (!fullPath.StartsWith(rootWithSeparator, StringComparison.Ordinal))
            {
                throw Refuse(item.Entry.FullName, "resolves outside the source folder");
            }

            plan.Add(new PlannedEntry(item.Entry, fullPath, item.IsDirectory, item.UnixMode, item.SymlinkTarget));
        }

        return plan;
    }

    private static BuildFailureException Refuse(string entryName, string reason) =>
        new($"staging: refused ZIP entry '{Printable.Of(entryName)}': it {reason}");

    private static BuildFailureException Corrupt(string entryName, string reason) =>
        new($"staging: the archive is corrupt: entry '{Printable.Of(entryName)}' {reason}");
}
