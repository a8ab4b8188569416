using System.IO.Compression;
using System.Security.Cryptography;
using AutoBuilder.Core.Protocol;

namespace AutoBuilder.Runner.Publishing;

/// <summary>Writes result.zip file by file, streamed, hashing each file as it is copied.</summary>
public static class ResultZipWriter
{
    /// <summary>Zips <paramref name="relativePaths"/> (under <paramref name="root"/>) into <paramref name="zipPath"/>.</summary>
    /// <returns>Each file's path, size and SHA-256, in zip order.</returns>
    public static async Task<IReadOnlyList<FileEntry>> WriteAsync(string root, IReadOnlyList<string> relativePaths, string zipPath, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(relativePaths);
        var entries = new List<FileEntry>(relativePaths.Count);
        var zipFile = new FileStream(zipPath, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 81920, useAsync: true);
        await using (zipFile.ConfigureAwait(false))
        {
            var archive = new ZipArchive(zipFile, ZipArchiveMode.Create, leaveOpen: true);
            await using (archive.ConfigureAwait(false))
            {
                foreach (var relative in relativePaths)
                {
                    var path = Path.Combine(root, relative);
                    var entry = archive.CreateEntry(relative, CompressionLevel.Fastest);
                    if (!OperatingSystem.IsWindows())
                    {
                        // Keep modes (an executable stays executable when the user unzips).
                        entry.ExternalAttributes = ((int)File.GetUnixFileMode(path) | 0x8000) << 16;
                    }

                    var input = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, useAsync: true);
                    await using (input.ConfigureAwait(false))
                    {
                        var output = await entry.OpenAsync(cancellationToken).ConfigureAwait(false);
                        await using (output.ConfigureAwait(false))
                        {
                            var (size, sha256) = await CopyHashingAsync(input, output, cancellationToken).ConfigureAwait(false);
                            entries.Add(new FileEntry(relative, size, sha256));
                        }
                    }
                }
            }
        }

        return entries;
    }

    /// <summary>Size and lower-case hex SHA-256 of a file.</summary>
    public static async Task<FileEntry> DescribeAsync(string path, string name, CancellationToken cancellationToken = default)
    {
        var input = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, useAsync: true);
        await using (input.ConfigureAwait(false))
        {
            var (size, sha256) = await CopyHashingAsync(input, Stream.Null, cancellationToken).ConfigureAwait(false);
            return new FileEntry(name, size, sha256);
        }
    }

    private static async Task<(long Size, string Sha256)> CopyHashingAsync(Stream input, Stream output, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[81920];
        long size = 0;
        int read;
        while ((read = await input.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            hash.AppendData(buffer, 0, read);
            await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
            size += read;
        }

        return (size, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }
}
