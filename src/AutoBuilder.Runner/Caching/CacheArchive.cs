using System.Formats.Tar;
using System.Security.Cryptography;
using AutoBuilder.Core;
using ZstdSharp;

namespace AutoBuilder.Runner.Caching;

/// <summary>An archive's size and SHA-256 (lower-case hex), as recorded beside it in the blob store.</summary>
public sealed record ArchiveDigest(long Size, string Sha256);

/// <summary>A folder to archive, and the entry name its content goes under.</summary>
public sealed record PackRoot(string Folder, string Name);

/// <summary>What a pack wrote: the archive's digest, and the files and bytes it holds.</summary>
public sealed record PackResult(ArchiveDigest Digest, int FileCount, long TotalBytes);

/// <summary>What a restore wrote, and what it left out.</summary>
public sealed record UnpackResult(ArchiveDigest Digest, int FileCount, long TotalBytes, int Skipped);

/// <summary>The archive did not unpack whole: its hash differs from the recorded one, or its content is not a cache's.</summary>
public sealed class CacheArchiveException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// A dependency cache as one stream: tar (PAX) compressed with zstd (managed, ZstdSharp: no native tool needed), hashed
/// as it is written or read, never held in memory. Unpacking takes regular files and folders only, and only inside the
/// destination: a cache is written by builds, so its content is as untrusted as an upload.
/// </summary>
public static class CacheArchive
{
    /// <summary>zstd's default level: about tar --zstd's speed and ratio.</summary>
    public const int CompressionLevel = 3;

    private const int CopyBufferSize = 128 * 1024;

    /// <summary>Packs everything under <paramref name="folder"/> (its content, not the folder itself) into <paramref name="destination"/>.</summary>
    public static async Task<ArchiveDigest> PackAsync(string folder, Stream destination, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        ArgumentNullException.ThrowIfNull(destination);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var hashing = new HashingStream(destination, hash);
        await using (hashing.ConfigureAwait(false))
        {
            var zstd = new CompressionStream(hashing, CompressionLevel, leaveOpen: true);
            await using (zstd.ConfigureAwait(false))
            {
                await TarFile.CreateFromDirectoryAsync(folder, zstd, includeBaseDirectory: false, cancellationToken).ConfigureAwait(false);
            }

            return new ArchiveDigest(hashing.Length, Convert.ToHexStringLower(hash.GetHashAndReset()));
        }
    }

    /// <summary>
    /// Packs several folders into one archive, each under its own entry name (<see cref="PackRoot"/>): regular files and
    /// folders only, never following or storing a link, and without the files <paramref name="exclude"/> names (it is
    /// given each path relative to its root, '/'-separated). Missing roots are left out.
    /// </summary>
    public static async Task<PackResult> PackAsync(IReadOnlyList<PackRoot> roots, Stream destination, Func<PackRoot, string, bool>? exclude = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(roots);
        ArgumentNullException.ThrowIfNull(destination);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var hashing = new HashingStream(destination, hash);
        int files = 0;
        long bytes = 0;
        await using (hashing.ConfigureAwait(false))
        {
            var zstd = new CompressionStream(hashing, CompressionLevel, leaveOpen: true);
            await using (zstd.ConfigureAwait(false))
            {
                var writer = new TarWriter(zstd, TarEntryFormat.Pax, leaveOpen: true);
                await using (writer.ConfigureAwait(false))
                {
                    foreach (var root in roots)
                    {
                        var folder = Path.GetFullPath(root.Folder);
                        if (!Directory.Exists(folder) || new DirectoryInfo(folder).LinkTarget is not null)
                        {
                            continue;
                        }

                        var pending = new Stack<string>([folder]);
                        while (pending.TryPop(out var current))
                        {
                            var relativeFolder = Path.GetRelativePath(folder, current).Replace('\\', '/');
                            var name = relativeFolder == "." ? root.Name : $"{root.Name}/{relativeFolder}";
                            await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.Directory, name + "/"), cancellationToken).ConfigureAwait(false);
                            foreach (var entry in new DirectoryInfo(current).EnumerateFileSystemInfos().OrderBy(e => e.Name, StringComparer.Ordinal))
                            {
                                var relative = Path.GetRelativePath(folder, entry.FullName).Replace('\\', '/');
                                if (entry.LinkTarget is not null || exclude?.Invoke(root, relative) == true)
                                {
                                    continue;
                                }

                                if (entry is DirectoryInfo)
                                {
                                    pending.Push(entry.FullName);
                                }
                                else if (IsRegularFile(entry.FullName))
                                {
                                    await writer.WriteEntryAsync(entry.FullName, $"{root.Name}/{relative}", cancellationToken).ConfigureAwait(false);
                                    files++;
                                    bytes += ((FileInfo)entry).Length;
                                }
                            }
                        }
                    }
                }
            }

            return new PackResult(new ArchiveDigest(hashing.Length, Convert.ToHexStringLower(hash.GetHashAndReset())), files, bytes);
        }
    }

    /// <summary>Regular files only: a FIFO or socket a build left would block or fail the archive.</summary>
    private static bool IsRegularFile(string path) => Publishing.FileKinds.Of(path) == Publishing.FileKind.Regular;

    /// <summary>
    /// Unpacks <paramref name="source"/> into <paramref name="destination"/> and checks the whole archive against
    /// <paramref name="expectedSha256"/> when one is given.
    /// </summary>
    /// <exception cref="CacheArchiveException">The archive is corrupt, or differs from its recorded hash; what was unpacked must not be used.</exception>
    public static async Task<UnpackResult> UnpackAsync(Stream source, string destination, string? expectedSha256 = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentException.ThrowIfNullOrEmpty(destination);
        var root = Path.GetFullPath(destination);
        Directory.CreateDirectory(root);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var hashing = new HashingStream(source, hash);
        int files = 0, skipped = 0;
        long bytes = 0;
        try
        {
            var zstd = new DecompressionStream(hashing, leaveOpen: true);
            await using (zstd.ConfigureAwait(false))
            {
                var reader = new TarReader(zstd, leaveOpen: true);
                await using (reader.ConfigureAwait(false))
                {
                    var folders = new HashSet<string>(StringComparer.Ordinal) { root };
                    while (await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false) is { } entry)
                    {
                        var path = PathInside(root, entry.Name);
                        switch (entry.EntryType)
                        {
                            case TarEntryType.Directory:
                                Directory.CreateDirectory(path);
                                folders.Add(path);
                                break;
                            case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                                var parent = Path.GetDirectoryName(path)!;
                                if (folders.Add(parent))
                                {
                                    Directory.CreateDirectory(parent);
                                }

                                bytes += await WriteFileAsync(entry, path, cancellationToken).ConfigureAwait(false);
                                files++;
                                break;
                            default:
                                // Links, devices, FIFOs: a dependency cache needs none, and each could point somewhere else.
                                skipped++;
                                break;
                        }
                    }
                }

                // The hash covers the whole archive: read what the tar reader left (its end blocks, zstd's epilogue).
                await zstd.CopyToAsync(Stream.Null, cancellationToken).ConfigureAwait(false);
            }

            await hashing.CopyToAsync(Stream.Null, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidDataException or ZstdException or FormatException or EndOfStreamException)
        {
            throw new CacheArchiveException($"the cache archive is corrupt ({ex.Message})", ex);
        }

        var digest = new ArchiveDigest(hashing.Length, Convert.ToHexStringLower(hash.GetHashAndReset()));
        if (expectedSha256 is not null && !string.Equals(digest.Sha256, expectedSha256, StringComparison.OrdinalIgnoreCase))
        {
            throw new CacheArchiveException($"the cache archive's SHA-256 is {digest.Sha256}, not the recorded {expectedSha256}");
        }

        return new UnpackResult(digest, files, bytes, skipped);
    }

    /// <summary>The entry's path under root; refuses absolute names, '..', NUL and anything that would land outside.</summary>
    private static string PathInside(string root, string name)
    {
        var relative = name.Replace('\\', '/');
        if (relative.StartsWith('/') || relative.Contains('\0', StringComparison.Ordinal) || relative.Split('/').Contains(".."))
        {
            throw new CacheArchiveException($"the cache archive has an entry outside its folder: '{Printable.Of(name)}'");
        }

        var path = Path.GetFullPath(Path.Combine(root, relative));
        return path == root || path.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal)
            ? path
            : throw new CacheArchiveException($"the cache archive has an entry outside its folder: '{Printable.Of(name)}'");
    }

    private static async Task<long> WriteFileAsync(TarEntry entry, string path, CancellationToken cancellationToken)
    {
        // A name that already exists as a folder or link is not replaced through: the entry is refused.
        if (Directory.Exists(path) || new FileInfo(path).LinkTarget is not null)
        {
            throw new CacheArchiveException($"the cache archive writes '{Printable.Of(entry.Name)}' over a folder or link");
        }

        var output = new FileStream(path, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, BufferSize = 0 });
        await using (output.ConfigureAwait(false))
        {
            if (entry.DataStream is { } data)
            {
                await data.CopyToAsync(output, CopyBufferSize, cancellationToken).ConfigureAwait(false);
            }

            return output.Length;
        }
    }

    /// <summary>Passes bytes through (reading or writing), hashing and counting them.</summary>
    private sealed class HashingStream(Stream inner, IncrementalHash hash) : Stream
    {
        public override bool CanRead => inner.CanRead;
        public override bool CanSeek => false;
        public override bool CanWrite => inner.CanWrite;
        public override long Length => Position;
        public override long Position { get; set; }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var read = inner.Read(buffer);
            Count(buffer[..read]);
            return read;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            Count(buffer.Span[..read]);
            return read;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            inner.Write(buffer);
            Count(buffer);
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
            Count(buffer.Span);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush() => inner.Flush();

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        private void Count(ReadOnlySpan<byte> bytes)
        {
            hash.AppendData(bytes);
            Position += bytes.Length;
        }
    }
}
