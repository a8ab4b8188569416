using System.Buffers;
using System.IO.Compression;
using System.Security.Cryptography;
using AutoBuilder.Core.Protocol;

namespace AutoBuilder.Runner.Publishing;

/// <summary>
/// Writes result.zip file by file, streamed, hashing each file as it is copied. The copying is synchronous: it is
/// local-disk and CPU work on many small files, where async file I/O (a thread-pool hop per read on Linux) only adds
/// cost; one pooled buffer and one hash serve every file.
/// </summary>
public static class ResultZipWriter
{
    private const int CopyBufferSize = 128 * 1024;

    /// <summary>Zips <paramref name="relativePaths"/> (under <paramref name="root"/>) into <paramref name="zipPath"/>.</summary>
    /// <returns>Each file's path, size and SHA-256, in zip order.</returns>
    public static Task<IReadOnlyList<FileEntry>> WriteAsync(string root, IReadOnlyList<string> relativePaths, string zipPath, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(relativePaths);
        var entries = new List<FileEntry>(relativePaths.Count);
        var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        try
        {
            using var zipFile = new FileStream(zipPath, FileMode.Create, FileAccess.ReadWrite, FileShare.None, CopyBufferSize);
            using var archive = new ZipArchive(zipFile, ZipArchiveMode.Create, leaveOpen: true);
            foreach (var relative in relativePaths)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var path = Path.Combine(root, relative);
                var entry = archive.CreateEntry(relative, CompressionLevel.Fastest);
                using var input = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
                if (!OperatingSystem.IsWindows())
                {
                    // Keep modes (an executable stays executable when the user unzips).
                    entry.ExternalAttributes = ((int)File.GetUnixFileMode(input.SafeFileHandle) | 0x8000) << 16;
                }

                using var output = entry.Open();
                var (size, sha256) = CopyHashing(input, output, buffer, hash);
                entries.Add(new FileEntry(relative, size, sha256));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return Task.FromResult<IReadOnlyList<FileEntry>>(entries);
    }

    /// <summary>Size and lower-case hex SHA-256 of a file.</summary>
    public static Task<FileEntry> DescribeAsync(string path, string name, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        try
        {
            using var input = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
            var (size, sha256) = CopyHashing(input, Stream.Null, buffer, hash);
            return Task.FromResult(new FileEntry(name, size, sha256));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static (long Size, string Sha256) CopyHashing(Stream input, Stream output, byte[] buffer, IncrementalHash hash)
    {
        long size = 0;
        int read;
        while ((read = input.Read(buffer, 0, buffer.Length)) > 0)
        {
            hash.AppendData(buffer, 0, read);
            output.Write(buffer, 0, read);
            size += read;
        }

        return (size, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }
}
