using System.Collections.Frozen;
using System.IO.Compression;

namespace AutoBuilder.Cli.Client;

/// <summary>What <see cref="SourcePacker.PackAsync"/> wrote.</summary>
/// <param name="SkippedLinks">Symbolic links left out, as relative '/'-separated paths.</param>
public sealed record PackResult(string ZipPath, int FileCount, long SourceBytes, long ZipBytes, IReadOnlyList<string> SkippedLinks);

/// <summary>
/// Zips a source folder for upload, streaming file by file into a ZIP on disk.
/// <list type="bullet">
/// <item>Folders named in <see cref="ExcludedFolders"/> are left out at any depth.</item>
/// <item>Entry names are relative to the folder and use '/'; empty folders get a "name/" entry.</item>
/// <item>On Linux and macOS each entry keeps its unix permission bits in the high 16 bits of ExternalAttributes
///   (so gradlew and mvnw stay executable after the server unpacks them).</item>
/// <item>Symbolic links (to files or folders) are never followed and never stored: they are skipped and reported
///   in <see cref="PackResult.SkippedLinks"/>, so a link cannot pull in anything from outside the folder.</item>
/// </list>
/// </summary>
public static class SourcePacker
{
    /// <summary>Build outputs, VCS data and local caches; <c>autobuilder-out</c> is where the CLI itself downloads results.</summary>
    public static FrozenSet<string> ExcludedFolders { get; } =
        FrozenSet.Create(StringComparer.Ordinal, ".git", "target", "build", "node_modules", ".autobuilder", ".gradle", "autobuilder-out");

    private const int RegularFileType = 0x8000; // S_IFREG
    private const int DirectoryType = 0x4000; // S_IFDIR
    private static readonly DateTimeOffset MinZipTime = new(1980, 1, 2, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset MaxZipTime = new(2107, 12, 30, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Zips <paramref name="sourceFolder"/> into <paramref name="zipPath"/> (created or overwritten).</summary>
    public static async Task<PackResult> PackAsync(string sourceFolder, string zipPath, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sourceFolder);
        ArgumentNullException.ThrowIfNull(zipPath);
        var root = new DirectoryInfo(Path.GetFullPath(sourceFolder));
        if (!root.Exists)
        {
            throw new DirectoryNotFoundException($"The folder {root.FullName} does not exist.");
        }

        var skipped = new List<string>();
        var fileCount = 0;
        long sourceBytes = 0;

        await using (var output = new FileStream(zipPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
        await using (var archive = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true))
        {
            var pending = new Stack<(DirectoryInfo Directory, string Prefix)>();
            pending.Push((root, ""));
            while (pending.Count > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var (directory, prefix) = pending.Pop();
                var children = directory.EnumerateFileSystemInfos()
                    .OrderBy(info => info.Name, StringComparer.Ordinal)
                    .ToList();
                var wroteAny = false;

                foreach (var child in children)
                {
                    var name = prefix + child.Name;
                    if (child.LinkTarget is not null)
                    {
                        skipped.Add(name);
                        continue;
                    }

                    if (child is DirectoryInfo subdirectory)
                    {
                        if (!ExcludedFolders.Contains(child.Name))
                        {
                            pending.Push((subdirectory, name + "/"));
                            wroteAny = true;
                        }

                        continue;
                    }

                    if (child is FileInfo file)
                    {
                        var entry = archive.CreateEntry(name, CompressionLevel.Fastest);
                        entry.LastWriteTime = Clamp(file.LastWriteTimeUtc);
                        SetUnixMode(entry, file, RegularFileType);
                        await using (var input = new FileStream(file.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan))
                        await using (var entryStream = await entry.OpenAsync(cancellationToken))
                        {
                            await input.CopyToAsync(entryStream, cancellationToken);
                        }

                        fileCount++;
                        sourceBytes += file.Length;
                        wroteAny = true;
                    }
                }

                if (!wroteAny && prefix.Length > 0)
                {
                    var entry = archive.CreateEntry(prefix);
                    entry.LastWriteTime = Clamp(directory.LastWriteTimeUtc);
                    SetUnixMode(entry, directory, DirectoryType);
                }
            }
        }

        return new PackResult(Path.GetFullPath(zipPath), fileCount, sourceBytes, new FileInfo(zipPath).Length, skipped);
    }

    private static void SetUnixMode(ZipArchiveEntry entry, FileSystemInfo info, int fileType)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var mode = (int)info.UnixFileMode & 0xFFF;
        entry.ExternalAttributes = (fileType | mode) << 16;
    }

    private static DateTimeOffset Clamp(DateTime utc)
    {
        var value = new DateTimeOffset(utc, TimeSpan.Zero);
        return value < MinZipTime ? MinZipTime : value > MaxZipTime ? MaxZipTime : value;
    }
}
