using System.Buffers;
using System.IO.Compression;
using System.Security.Cryptography;
using AutoBuilder.Core.Protocol;

namespace AutoBuilder.Runner.Publishing;

/// <summary>
/// Writes result.zip file by file from the collected stream (<see cref="OutputCollector"/>), hashing each file as it
/// is copied: one pooled buffer and one hash serve every file. The zip itself is local disk, written synchronously
/// (async file I/O is a thread-pool hop per write on Linux), and may not grow past its limit.
/// </summary>
public sealed class ResultZipWriter : IDisposable
{
    private const int CopyBufferSize = 128 * 1024;
    private readonly BoundedFileStream _file;
    private readonly ZipArchive _archive;
    private readonly byte[] _buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly List<FileEntry> _entries = [];

    /// <param name="zipPath">Created; the runner's own folder, never the build's.</param>
    /// <param name="tooLarge">The failure when the zip grows past <paramref name="maxBytes"/>.</param>
    public ResultZipWriter(string zipPath, long maxBytes, string tooLarge)
    {
        _file = new BoundedFileStream(new FileStream(zipPath, FileMode.Create, FileAccess.ReadWrite, FileShare.None, CopyBufferSize), maxBytes, tooLarge);
        _archive = new ZipArchive(_file, ZipArchiveMode.Create, leaveOpen: true);
    }

    /// <summary>Each file's path, size and SHA-256, in zip order.</summary>
    public IReadOnlyList<FileEntry> Entries => _entries;

    /// <summary>Adds one file, also copied to <paramref name="copy"/> when given (an artifact that is an output too).</summary>
    /// <exception cref="BuildFailureException">The zip grew past its limit.</exception>
    public async Task<FileEntry> AddAsync(PackedFile file, Stream? copy, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(file);
        var entry = _archive.CreateEntry(file.Path, CompressionLevel.Fastest);
        // Keep modes (an executable stays executable when the user unzips).
        entry.ExternalAttributes = ((int)file.Mode | 0x8000) << 16;
        FileEntry described;
        using (var output = entry.Open())
        {
            described = await CopyHashingAsync(file, output, copy, _buffer, _hash, cancellationToken).ConfigureAwait(false);
        }

        _entries.Add(described);
        return described;
    }

    public void Dispose()
    {
        try
        {
            _archive.Dispose(); // writes the central directory, which counts too.
        }
        finally
        {
            _file.Dispose();
            _hash.Dispose();
            ArrayPool<byte>.Shared.Return(_buffer);
        }
    }

    /// <summary>
    /// Zips <paramref name="relativePaths"/> of a tree the caller may read itself (listed and packed as the caller's
    /// user, unsandboxed: tools and tests; the runner goes through <see cref="OutputPublisher"/>).
    /// </summary>
    /// <returns>Each file's path, size and SHA-256, in zip order.</returns>
    public static async Task<IReadOnlyList<FileEntry>> WriteAsync(string root, IReadOnlyList<string> relativePaths, string zipPath, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(relativePaths);
        using var writer = new ResultZipWriter(zipPath, long.MaxValue, "result.zip is too large");
        await OutputCollector.CollectAsync(
            new BuildView(Path.GetFullPath(root)),
            relativePaths,
            (listing, _) => Task.FromResult<IReadOnlyList<string>>(relativePaths.Intersect(listing.Where(e => e.Kind == FileKind.Regular).Select(e => e.Path), StringComparer.Ordinal).ToList()),
            async (file, ct) => await writer.AddAsync(file, copy: null, ct).ConfigureAwait(false),
            _ => { },
            long.MaxValue,
            OutputCollector.DefaultTimeout,
            cancellationToken: cancellationToken).ConfigureAwait(false);
        return [.. writer.Entries];
    }

    /// <summary>Copies a collected file to <paramref name="output"/> (and <paramref name="copy"/>), returning its size and lower-case hex SHA-256.</summary>
    public static async Task<FileEntry> CopyHashingAsync(PackedFile file, Stream output, Stream? copy, byte[] buffer, IncrementalHash hash, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(buffer);
        ArgumentNullException.ThrowIfNull(hash);
        long size = 0;
        int read;
        while ((read = await file.Content.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            hash.AppendData(buffer, 0, read);
            output.Write(buffer, 0, read);
            copy?.Write(buffer, 0, read);
            size += read;
        }

        return new FileEntry(file.Path, size, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }
}

/// <summary>A file that may not grow past a number of bytes: past it, a write fails with a <see cref="BuildFailureException"/>.</summary>
public sealed class BoundedFileStream(FileStream inner, long maxBytes, string tooLarge) : Stream
{
    public override bool CanRead => inner.CanRead;
    public override bool CanSeek => inner.CanSeek;
    public override bool CanWrite => inner.CanWrite;
    public override long Length => inner.Length;
    public override long Position { get => inner.Position; set => inner.Position = value; }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (inner.Position + buffer.Length > maxBytes)
        {
            throw new BuildFailureException(tooLarge);
        }

        inner.Write(buffer);
    }

    public override void WriteByte(byte value) => Write([value]);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        Write(buffer.AsSpan(offset, count));
        return Task.CompletedTask;
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
    public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);
    public override void SetLength(long value) => inner.SetLength(value <= maxBytes ? value : throw new BuildFailureException(tooLarge));
    public override void Flush() => inner.Flush();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
