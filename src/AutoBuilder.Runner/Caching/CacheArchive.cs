using System.Buffers;
using System.Globalization;
using System.Formats.Tar;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Threading.Channels;
using AutoBuilder.Core;
using ZstdSharp;

namespace AutoBuilder.Runner.Caching;

/// <summary>An archive's size and SHA-256 (lower-case hex), as recorded beside it in the blob store.</summary>
public sealed record ArchiveDigest(long Size, string Sha256);

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
public static partial class CacheArchive
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
    /// An archive written entry by entry, for a caller that reads the content from a stream it parses as data (a tar a
    /// build-user tool wrote, <see cref="CachePathPacker"/>): the writer never opens a path itself.
    /// </summary>
    public static Writer CreateWriter(Stream destination) => new(destination ?? throw new ArgumentNullException(nameof(destination)));

    /// <summary>
    /// Whether an entry name can be carried: what <see cref="UnpackAsync"/> accepts (relative, no '..', no NUL) and
    /// nothing a log line or a tar reader could misread (controls, '\', a name that was not valid UTF-8).
    /// </summary>
    public static bool CanCarry(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0 || name.StartsWith('/') || name.EndsWith('/'))
        {
            return false;
        }

        foreach (var c in name)
        {
            if (char.IsControl(c) || c is '\\' or '\uFFFD')
            {
                return false;
            }
        }

        return !name.Split('/').Any(part => part is "" or "." or "..");
    }

    /// <summary>See <see cref="CreateWriter"/>: folders and regular files, in the order given.</summary>
    public sealed class Writer : IAsyncDisposable
    {
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private readonly HashingStream _hashing;
        private readonly CompressionStream _zstd;
        private readonly TarWriter _tar;
        private bool _done;

        internal Writer(Stream destination)
        {
            _hashing = new HashingStream(destination, _hash);
            _zstd = new CompressionStream(_hashing, CompressionLevel, leaveOpen: true);
            _tar = new TarWriter(_zstd, TarEntryFormat.Pax, leaveOpen: true);
        }

        /// <summary>Regular files written so far.</summary>
        public int FileCount { get; private set; }

        /// <summary>Their apparent size (what a restore writes), so far.</summary>
        public long TotalBytes { get; private set; }

        public async Task AddFolderAsync(string name, CancellationToken cancellationToken)
        {
            Check(name);
            await _tar.WriteEntryAsync(new PaxTarEntry(TarEntryType.Directory, name + "/"), cancellationToken).ConfigureAwait(false);
        }

        /// <summary>A regular file of <paramref name="length"/> bytes read from <paramref name="data"/>.</summary>
        public async Task AddFileAsync(string name, UnixFileMode mode, DateTimeOffset modified, Stream? data, long length, CancellationToken cancellationToken)
        {
            Check(name);
            var entry = new PaxTarEntry(TarEntryType.RegularFile, name)
            {
                Mode = mode & (UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute),
                ModificationTime = modified,
                // TarWriter needs the length up front to stream into an unseekable archive; a tar entry's is in its header.
                DataStream = data is { CanSeek: false } ? new KnownLengthStream(data, length) : data,
            };
            await _tar.WriteEntryAsync(entry, cancellationToken).ConfigureAwait(false);
            FileCount++;
            TotalBytes += data is null ? 0 : length;
        }

        /// <summary>Ends the archive and returns what it is.</summary>
        public async Task<PackResult> CompleteAsync()
        {
            await CloseAsync().ConfigureAwait(false);
            return new PackResult(new ArchiveDigest(_hashing.Length, Convert.ToHexStringLower(_hash.GetHashAndReset())), FileCount, TotalBytes);
        }

        public async ValueTask DisposeAsync()
        {
            try
            {
                await CloseAsync().ConfigureAwait(false);
            }
            catch (IOException)
            {
                // An archive given up on (its destination refused more bytes): nothing of it is used.
            }
            finally
            {
                _hash.Dispose();
            }
        }

        private async Task CloseAsync()
        {
            if (_done)
            {
                return;
            }

            _done = true;
            try
            {
                await _tar.DisposeAsync().ConfigureAwait(false);
            }
            finally
            {
                await _zstd.DisposeAsync().ConfigureAwait(false);
                await _hashing.DisposeAsync().ConfigureAwait(false);
            }
        }

        private static void Check(string name)
        {
            if (!CanCarry(name))
            {
                throw new ArgumentException($"'{Printable.Of(name)}' cannot be carried by a cache archive", nameof(name));
            }
        }
    }

    /// <summary>
    /// Unpacks <paramref name="source"/> into <paramref name="destination"/> and checks the whole archive against
    /// <paramref name="expectedSha256"/> when one is given. Files are counted by their apparent size (a sparse file's
    /// whole length, which is what gets written): past <paramref name="maxBytes"/> the restore stops as corrupt.
    /// </summary>
    /// <remarks>
    /// Two stages, as `tar --zstd -xf` runs zstd and tar as two processes: this task reads the source (asynchronously),
    /// hashes and decompresses it into a bounded queue of chunks; a dedicated thread reads the tar stream from that
    /// queue and creates the files with plain synchronous calls (on Linux: open O_EXCL|O_NOFOLLOW, write, close; no
    /// per-file lock, no thread-pool hop per write). `bench cache` measures it against tar (docs/BENCHMARKS.md).
    /// </remarks>
    /// <exception cref="CacheArchiveException">The archive is corrupt, or differs from its recorded hash; what was unpacked must not be used.</exception>
    public static async Task<UnpackResult> UnpackAsync(Stream source, string destination, string? expectedSha256 = null, long maxBytes = long.MaxValue, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentException.ThrowIfNullOrEmpty(destination);
        var root = Path.GetFullPath(destination);
        Directory.CreateDirectory(root);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var hashing = new HashingStream(source, hash);
        var chunks = Channel.CreateBounded<Chunk>(new BoundedChannelOptions(QueuedChunks) { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var extract = Task.Factory.StartNew(
            () =>
            {
                try
                {
                    return Extract(new ChunkStream(chunks.Reader), root, maxBytes, stop.Token);
                }
                catch
                {
                    stop.Cancel(); // the reading stage stops too
                    throw;
                }
            },
            CancellationToken.None, TaskCreationOptions.LongRunning | TaskCreationOptions.DenyChildAttach, TaskScheduler.Default);

        Exception? readFailure = null;
        try
        {
            var zstd = new DecompressionStream(hashing, leaveOpen: true);
            await using (zstd.ConfigureAwait(false))
            {
                while (true)
                {
                    var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
                    int read;
                    try
                    {
                        read = await zstd.ReadAsync(buffer.AsMemory(0, ChunkSize), stop.Token).ConfigureAwait(false);
                    }
                    catch
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                        throw;
                    }

                    if (read == 0)
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                        break;
                    }

                    await chunks.Writer.WriteAsync(new Chunk(buffer, read), stop.Token).ConfigureAwait(false);
                }
            }

            // The hash covers the whole archive: read what zstd left (e.g. bytes after its last frame).
            await hashing.CopyToAsync(Stream.Null, stop.Token).ConfigureAwait(false);
            chunks.Writer.TryComplete();
        }
        catch (Exception ex)
        {
            readFailure = ex;
            chunks.Writer.TryComplete(ex);
        }

        (int Files, long Bytes, int Skipped) written = default;
        Exception? extractFailure = null;
        try
        {
            written = await extract.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            extractFailure = ex;
        }

        cancellationToken.ThrowIfCancellationRequested();
        // A reading stage stopped by the extracting one (cancelled) points at the extracting stage's failure;
        // otherwise the reading stage's failure came first and the extracting stage only saw its consequence.
        var failure = readFailure is null or OperationCanceledException ? extractFailure ?? readFailure : readFailure;
        if (failure is not null)
        {
            if (IsCorrupt(failure))
            {
                throw new CacheArchiveException($"the cache archive is corrupt ({failure.Message})", failure);
            }

            ExceptionDispatchInfo.Throw(failure);
        }

        var digest = new ArchiveDigest(hashing.Length, Convert.ToHexStringLower(hash.GetHashAndReset()));
        if (expectedSha256 is not null && !string.Equals(digest.Sha256, expectedSha256, StringComparison.OrdinalIgnoreCase))
        {
            throw new CacheArchiveException($"the cache archive's SHA-256 is {digest.Sha256}, not the recorded {expectedSha256}");
        }

        return new UnpackResult(digest, written.Files, written.Bytes, written.Skipped);
    }

    private const int ChunkSize = 256 * 1024;

    /// <summary>Decompressed bytes queued between the two stages: at most 32 x 256 KiB = 8 MiB.</summary>
    private const int QueuedChunks = 32;

    private static bool IsCorrupt(Exception ex) => ex is InvalidDataException or ZstdException or FormatException or EndOfStreamException;

    /// <summary>The extracting stage: the tar stream's regular files and folders, created under root, synchronously.</summary>
    private static (int Files, long Bytes, int Skipped) Extract(Stream tar, string root, long maxBytes, CancellationToken cancellationToken)
    {
        int files = 0, skipped = 0;
        long bytes = 0;
        var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
        try
        {
            using var reader = new TarReader(tar, leaveOpen: true);
            using var folders = OperatingSystem.IsLinux() ? new FolderHandles(root) : null;
            var made = new HashSet<string>(StringComparer.Ordinal) { root };
            while (reader.GetNextEntry(copyData: false) is { } entry)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var path = PathInside(root, entry.Name);
                switch (entry.EntryType)
                {
                    case TarEntryType.Directory:
                        if (folders is not null)
                        {
                            folders.Open(Path.GetRelativePath(root, path), entry);
                        }
                        else if (made.Add(path))
                        {
                            Directory.CreateDirectory(path);
                        }

                        break;
                    case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                        if (entry.Length > maxBytes - bytes)
                        {
                            throw new CacheArchiveException(string.Create(CultureInfo.InvariantCulture, $"the cache archive holds more than {maxBytes:N0} bytes of files (Caches:MaxArchiveBytes)"));
                        }

                        var parent = Path.GetDirectoryName(path)!;
                        if (folders is not null)
                        {
                            bytes += WriteFile(entry, folders.Open(parent == root ? "" : Path.GetRelativePath(root, parent), entry), Path.GetFileName(path), path, buffer);
                        }
                        else
                        {
                            if (made.Add(parent))
                            {
                                Directory.CreateDirectory(parent);
                            }

                            bytes += WriteFileManaged(entry, path, buffer);
                        }

                        files++;
                        break;
                    default:
                        // Links, devices, FIFOs: a dependency cache needs none, and each could point somewhere else.
                        skipped++;
                        break;
                }
            }

            // What the tar reader left (its end blocks) belongs to the archive too.
            tar.CopyTo(Stream.Null);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return (files, bytes, skipped);
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

    /// <summary>Writes the entry as <paramref name="name"/> in the folder <paramref name="folder"/> (a descriptor of <see cref="FolderHandles"/>).</summary>
    private static long WriteFile(TarEntry entry, int folder, string name, string path, byte[] buffer)
    {
        // O_EXCL|O_NOFOLLOW: a new file, never through a link; what exists already is looked at on the slow path.
        var flags = OWronly | OCreat | OExcl | OCloexec | ONofollow;
        // 0666 less the umask, as FileStream creates files; 0777 for what was executable (a wrapper's or a tool's binaries).
        var fd = Native.OpenAt(folder, name, flags, Executable(entry) ? 0x1FF : 0x1B6);
        if (fd < 0 && Marshal.GetLastPInvokeError() == EExist)
        {
            fd = Native.OpenAt(folder, name, OWronly | OTrunc | OCloexec | ONofollow, 0);
            if (fd < 0 && Marshal.GetLastPInvokeError() is ELoop or EIsDir)
            {
                throw new CacheArchiveException($"the cache archive writes '{Printable.Of(entry.Name)}' over a folder or link");
            }
        }

        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"cannot create {path}: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
        }

        var closed = false;
        try
        {
            long total = 0;
            if (entry.DataStream is { } data)
            {
                int read;
                while ((read = data.Read(buffer, 0, buffer.Length)) > 0)
                {
                    for (var offset = 0; offset < read;)
                    {
                        var written = Native.Write(fd, buffer.AsSpan(offset, read - offset), read - offset);
                        if (written < 0)
                        {
                            var errno = Marshal.GetLastPInvokeError();
                            if (errno == EIntr)
                            {
                                continue;
                            }

                            throw new IOException($"cannot write {path}: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
                        }

                        offset += (int)written;
                    }

                    total += read;
                }
            }

            closed = true;
            if (Native.Close(fd) != 0 && Marshal.GetLastPInvokeError() is var closeErrno && closeErrno != EIntr)
            {
                throw new IOException($"cannot write {path}: {Marshal.GetPInvokeErrorMessage(closeErrno)}", closeErrno);
            }

            return total;
        }
        finally
        {
            if (!closed)
            {
                Native.Close(fd);
            }
        }
    }

    private static bool Executable(TarEntry entry) =>
        (entry.Mode & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;

    /// <summary>A name that already exists as a folder or link is not replaced through: the entry is refused.</summary>
    private static void RefuseFolderOrLink(TarEntry entry, string path)
    {
        if (Directory.Exists(path) || new FileInfo(path).LinkTarget is not null)
        {
            throw new CacheArchiveException($"the cache archive writes '{Printable.Of(entry.Name)}' over a folder or link");
        }
    }

    private static long WriteFileManaged(TarEntry entry, string path, byte[] buffer)
    {
        RefuseFolderOrLink(entry, path);
        using var output = new FileStream(path, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, BufferSize = 0 });
        if (Executable(entry) && !OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, File.GetUnixFileMode(path) | UnixFileMode.UserExecute);
        }

        if (entry.DataStream is { } data)
        {
            int read;
            while ((read = data.Read(buffer, 0, buffer.Length)) > 0)
            {
                output.Write(buffer, 0, read);
            }
        }

        return output.Length;
    }

    // Linux open(2) flags and errno values; O_NOFOLLOW and O_DIRECTORY differ on ARM.
    private const int ORdonly = 0, OWronly = 0x1, OCreat = 0x40, OExcl = 0x80, OTrunc = 0x200, OCloexec = 0x80000;
    private const int EIntr = 4, EExist = 17, ENotDir = 20, EIsDir = 21, ELoop = 40;
    private static readonly bool Arm = RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm;
    private static readonly int ONofollow = Arm ? 0x8000 : 0x20000;
    private static readonly int ODirectory = Arm ? 0x4000 : 0x10000;

    /// <summary>
    /// The restore's folders, each opened from its parent's descriptor with O_NOFOLLOW|O_DIRECTORY (made first when
    /// missing): no component beneath the root is ever followed through a link, whatever is there already. The last
    /// folder stays open, as the archive's entries come folder by folder.
    /// </summary>
    private sealed class FolderHandles : IDisposable
    {
        private readonly int _root;
        private string? _lastRelative;
        private int _last = -1;

        public FolderHandles(string root)
        {
            _root = Native.Open(root, ORdonly | ODirectory | ONofollow | OCloexec, 0);
            if (_root < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                throw new IOException($"cannot open {root}: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
            }
        }

        /// <summary>The folder at <paramref name="relative"/> ("" or "." for the root), made as needed.</summary>
        public int Open(string relative, TarEntry entry)
        {
            relative = relative.TrimEnd('/');
            if (relative is "" or ".")
            {
                return _root;
            }

            if (relative == _lastRelative)
            {
                return _last;
            }

            // From the last folder when this one is beneath it (a folder, then its children), else from the root.
            var below = _lastRelative is not null && relative.StartsWith(_lastRelative + "/", StringComparison.Ordinal);
            var start = below ? _last : _root;
            var fd = start;
            foreach (var part in (below ? relative[(_lastRelative!.Length + 1)..] : relative).Split('/'))
            {
                if (Native.MkdirAt(fd, part, 0x1FF) != 0 && Marshal.GetLastPInvokeError() is var mkdirErrno && mkdirErrno != EExist)
                {
                    Close(fd, start);
                    throw new IOException($"cannot create {relative}: {Marshal.GetPInvokeErrorMessage(mkdirErrno)}", mkdirErrno);
                }

                var next = Native.OpenAt(fd, part, ORdonly | ODirectory | ONofollow | OCloexec, 0);
                var errno = Marshal.GetLastPInvokeError();
                Close(fd, start);
                if (next < 0)
                {
                    throw errno is ELoop or ENotDir
                        ? new CacheArchiveException($"the cache archive writes '{Printable.Of(entry.Name)}' through a file or link")
                        : new IOException($"cannot open {relative}: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
                }

                fd = next;
            }

            if (_last >= 0)
            {
                Native.Close(_last);
            }

            _last = fd;
            _lastRelative = relative;
            return fd;
        }

        public void Dispose()
        {
            if (_last >= 0)
            {
                Native.Close(_last);
            }

            Native.Close(_root);
        }

        /// <summary>Closes a folder of the walk, not the one it started from (the root, or the last folder, kept open).</summary>
        private void Close(int fd, int start)
        {
            if (fd != start && fd != _root)
            {
                Native.Close(fd);
            }
        }
    }

    private static partial class Native
    {
        [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int Open(string path, int flags, int mode);

        [LibraryImport("libc", EntryPoint = "openat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int OpenAt(int folder, string path, int flags, int mode);

        [LibraryImport("libc", EntryPoint = "mkdirat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int MkdirAt(int folder, string path, int mode);

        [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
        internal static partial nint Write(int fd, ReadOnlySpan<byte> buffer, nint count);

        [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
        internal static partial int Close(int fd);
    }

    /// <summary>Decompressed bytes handed from the reading stage to the extracting one (a pooled buffer).</summary>
    private readonly record struct Chunk(byte[] Buffer, int Count);

    /// <summary>The extracting stage's view of the queue: a read-only stream that blocks for the next chunk.</summary>
    private sealed class ChunkStream(ChannelReader<Chunk> chunks) : ReadOnlyStream
    {
        private Chunk _current;
        private int _offset;

        public override int Read(Span<byte> buffer)
        {
            if (buffer.IsEmpty)
            {
                return 0;
            }

            while (_current.Buffer is null || _offset == _current.Count)
            {
                if (_current.Buffer is not null)
                {
                    ArrayPool<byte>.Shared.Return(_current.Buffer);
                    _current = default;
                }

                if (!chunks.TryRead(out var next))
                {
                    // Blocking is this stage's job: it runs on a thread of its own. A failed reading stage's exception surfaces here.
                    if (!chunks.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
                    {
                        return 0;
                    }

                    continue;
                }

                _current = next;
                _offset = 0;
            }

            var count = Math.Min(buffer.Length, _current.Count - _offset);
            _current.Buffer.AsSpan(_offset, count).CopyTo(buffer);
            _offset += count;
            return count;
        }

        protected override void Dispose(bool disposing)
        {
            if (_current.Buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(_current.Buffer);
                _current = default;
            }

            base.Dispose(disposing);
        }
    }

    /// <summary>A forward-only stream of a known length: what TarWriter asks of a file's data to write it into a stream.</summary>
    private sealed class KnownLengthStream(Stream inner, long length) : Stream
    {
        private long _read;

        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get => _read; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var read = inner.Read(buffer[..(int)Math.Min(buffer.Length, length - _read)]);
            _read += read;
            return read;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = await inner.ReadAsync(buffer[..(int)Math.Min(buffer.Length, length - _read)], cancellationToken).ConfigureAwait(false);
            _read += read;
            return read;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
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
