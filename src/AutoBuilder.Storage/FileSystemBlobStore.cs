using System.Runtime.InteropServices;
using System.Buffers;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using AutoBuilder.Core.Storage;

namespace AutoBuilder.Storage;

/// <summary>
/// The default <see cref="IBlobStore"/>: blobs are files at <c>{RootPath}/{container}/{path}</c>.
/// Whole-blob writes go to <c>{RootPath}/.tmp/</c> first and are renamed into place, so a blob is visible only when
/// complete; appends are serialized per blob within this process. Signed URLs point at the API's <c>/blobs/...</c> endpoint.
/// </summary>
public sealed class FileSystemBlobStore : IBlobStore
{
    private const int BufferSize = 1024 * 1024;
    private const string TempFolderName = ".tmp";
    private const FileShare SharedAccess = FileShare.ReadWrite | FileShare.Delete;

    // Folders removed by DeleteAsync can vanish under a writer between CreateDirectory and the rename/open.
    private const int FolderRaceRetries = 5;

    private readonly string _root;
    private readonly string _tempFolder;
    private readonly Uri _publicBaseUrl;
    private readonly ConfiguredContainers _containers;
    private readonly BlobUrlSigner _signer;
    private readonly TimeProvider _timeProvider;
    private readonly Dictionary<string, AppendGate> _appendGates = new(StringComparer.Ordinal);

    public FileSystemBlobStore(FileSystemBlobStoreOptions options, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        options.Validate();

        _root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(options.RootPath));
        _tempFolder = Path.Combine(_root, TempFolderName);
        _publicBaseUrl = options.PublicBaseUrl!;
        _containers = new ConfiguredContainers(options.Containers);
        _signer = new BlobUrlSigner(options.SigningKey);
        _timeProvider = timeProvider;
    }

    /// <summary>The signer whose URLs this store issues (the API's blob endpoint verifies with it).</summary>
    public BlobUrlSigner Signer => _signer;

    /// <summary>The full local path of a blob, after validation; the API's blob endpoint serves files from it.</summary>
    /// <exception cref="ArgumentException">The container is not configured or the path is not a safe relative blob path.</exception>
    public string GetLocalPath(BlobRef blob) => Resolve(blob);

    public Task InitializeAsync(CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(_root);
        Directory.CreateDirectory(_tempFolder);
        foreach (var container in _containers)
        {
            Directory.CreateDirectory(Path.Combine(_root, container));
        }

        return Task.CompletedTask;
    }

    public Task<bool> IsReachableAsync(CancellationToken cancellationToken = default)
    {
        if (!Directory.Exists(_root))
        {
            return Task.FromResult(false);
        }

        var probe = NewTempPath();
        try
        {
            Directory.CreateDirectory(_tempFolder);
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose))
            {
            }

            return Task.FromResult(true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Task.FromResult(false);
        }
    }

    public Task<Stream> OpenReadAsync(BlobRef blob, long offset = 0, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        var path = Resolve(blob);
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, SharedAccess, BufferSize, FileOptions.Asynchronous | FileOptions.SequentialScan);
        }
        catch (Exception e) when (IsMissing(e, path))
        {
            throw new BlobNotFoundException(blob);
        }

        stream.Position = Math.Min(offset, stream.Length);
        return Task.FromResult<Stream>(stream);
    }

    public async Task<BlobUploadResult> UploadAsync(BlobRef blob, Stream content, bool overwrite, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        var destination = Resolve(blob);
        ThrowIfExists(blob, destination, overwrite);

        var temp = NewTempPath();
        try
        {
            BlobUploadResult result;
            await using (var file = CreateTempFile(temp))
            {
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var size = await CopyAsync(content, file, hash, cancellationToken);
                await file.FlushAsync(cancellationToken);
                file.Flush(flushToDisk: true);
                result = new BlobUploadResult(size, Convert.ToHexStringLower(hash.GetHashAndReset()));
            }

            cancellationToken.ThrowIfCancellationRequested();
            MoveIntoPlace(blob, temp, destination, overwrite);
            return result;
        }
        catch
        {
            TryDeleteFile(temp);
            throw;
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// The file is first moved into the store's temp folder (a rename; across filesystems the runtime copies and
    /// deletes), hashed there in one read, then renamed into place. When the import fails the file is put back.
    /// </remarks>
    public async Task<BlobUploadResult> ImportFileAsync(BlobRef blob, string localPath, bool overwrite, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(localPath);
        var destination = Resolve(blob);
        var source = Path.GetFullPath(localPath);
        if (!File.Exists(source))
        {
            throw new FileNotFoundException($"The file to import into blob '{blob}' does not exist.", source);
        }

        ThrowIfExists(blob, destination, overwrite);

        var temp = NewTempPath();
        try
        {
            File.Move(source, temp, overwrite: false);
            BlobUploadResult result;
            await using (var file = new FileStream(temp, FileMode.Open, FileAccess.ReadWrite, FileShare.None, 0, FileOptions.Asynchronous | FileOptions.SequentialScan))
            {
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var size = await CopyAsync(file, null, hash, cancellationToken);
                file.Flush(flushToDisk: true);
                result = new BlobUploadResult(size, Convert.ToHexStringLower(hash.GetHashAndReset()));
            }

            cancellationToken.ThrowIfCancellationRequested();
            MoveIntoPlace(blob, temp, destination, overwrite);
            return result;
        }
        catch
        {
            try
            {
                File.Move(temp, source, overwrite: false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                TryDeleteFile(temp);
            }

            throw;
        }
    }

    public async Task<long> AppendAsync(BlobRef blob, Stream content, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        var path = Resolve(blob);
        var gate = await AcquireAppendGateAsync(path, cancellationToken);
        try
        {
            await using var file = OpenForAppend(path);
            var start = file.Seek(0, SeekOrigin.End);
            try
            {
                await CopyAsync(content, file, null, cancellationToken);
                await file.FlushAsync(cancellationToken);
                return file.Position;
            }
            catch
            {
                // All or nothing: no later append may follow half a chunk. We hold the gate, so nobody appended since.
                file.SetLength(start);
                throw;
            }
        }
        finally
        {
            ReleaseAppendGate(path, gate);
        }
    }

    public Task<BlobProperties?> GetPropertiesAsync(BlobRef blob, CancellationToken cancellationToken = default)
    {
        var info = new FileInfo(Resolve(blob));
        return Task.FromResult(info.Exists ? new BlobProperties(info.Length, new DateTimeOffset(info.LastWriteTimeUtc)) : null);
    }

    public IAsyncEnumerable<BlobItem> ListAsync(string container, string prefix, CancellationToken cancellationToken = default)
    {
        var containerFolder = ContainerFolder(container);
        prefix = BlobPath.RequirePrefix(prefix, nameof(prefix));

        // Start at the deepest folder the prefix names completely; the rest of the prefix filters names.
        var folderPart = prefix[..(prefix.LastIndexOf('/') + 1)];
        var startFolder = folderPart.Length == 0
            ? containerFolder
            : InsideContainer(container, containerFolder, BlobPath.Require(folderPart[..^1], nameof(prefix)), nameof(prefix));

        return ListCore(container, startFolder, folderPart, prefix, cancellationToken);
    }

    public async Task CopyAsync(BlobRef source, BlobRef target, bool overwrite, CancellationToken cancellationToken = default)
    {
        var sourcePath = Resolve(source);
        var targetPath = Resolve(target);
        if (!File.Exists(sourcePath))
        {
            throw new BlobNotFoundException(source);
        }

        ThrowIfExists(target, targetPath, overwrite);

        var temp = NewTempPath();
        try
        {
            await using (var input = OpenSourceForCopy(source, sourcePath))
            await using (var output = CreateTempFile(temp))
            {
                await CopyAsync(input, output, null, cancellationToken);
                await output.FlushAsync(cancellationToken);
                output.Flush(flushToDisk: true);
            }

            cancellationToken.ThrowIfCancellationRequested();
            MoveIntoPlace(target, temp, targetPath, overwrite);
        }
        catch
        {
            TryDeleteFile(temp);
            throw;
        }
    }

    public Task<bool> DeleteAsync(BlobRef blob, CancellationToken cancellationToken = default)
    {
        var path = Resolve(blob);
        if (!File.Exists(path))
        {
            return Task.FromResult(false);
        }

        // Renaming away first makes exactly one of two racing deletes return true (File.Delete ignores a missing file).
        var doomed = NewTempPath();
        try
        {
            File.Move(path, doomed, overwrite: false);
        }
        catch (Exception e) when (IsMissing(e, path))
        {
            return Task.FromResult(false);
        }

        TryDeleteFile(doomed);
        RemoveEmptyFolders(Path.GetDirectoryName(path)!, Path.Combine(_root, blob.Container));
        return Task.FromResult(true);
    }

    public BlobUrlProtocol UrlProtocol => BlobUrlProtocol.FileSystem;

    public ValueTask<SignedUrl> GetSignedUrlAsync(BlobRef blob, BlobPermission permission, TimeSpan lifetime, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(GetSignedUrl(blob, permission, lifetime));

    /// <summary>The filesystem store signs locally, so it can answer synchronously.</summary>
    public SignedUrl GetSignedUrl(BlobRef blob, BlobPermission permission, TimeSpan lifetime)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(lifetime, TimeSpan.Zero);
        Resolve(blob);

        // The URL carries whole unix seconds; report exactly the moment it encodes.
        var expiresAt = DateTimeOffset.FromUnixTimeSeconds((_timeProvider.GetUtcNow() + lifetime).ToUnixTimeSeconds());
        var escapedPath = string.Join('/', blob.Path.Split('/').Select(Uri.EscapeDataString));
        var url = $"{_publicBaseUrl.AbsoluteUri.TrimEnd('/')}/blobs/{Uri.EscapeDataString(blob.Container)}/{escapedPath}?{_signer.Sign(blob, permission, expiresAt)}";
        return new SignedUrl(new Uri(url), expiresAt);
    }

    private async IAsyncEnumerable<BlobItem> ListCore(
        string container, string startFolder, string startRelative, string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.Yield();

        // Depth-first with each folder's entries sorted by "name" (files) or "name/" (folders) gives global ordinal path order.
        var walk = new Stack<IEnumerator<(string Folder, string Relative, bool IsFile)>>();
        walk.Push(SortedEntries(startFolder, startRelative, prefix).GetEnumerator());
        try
        {
            while (walk.Count > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var entries = walk.Peek();
                if (!entries.MoveNext())
                {
                    walk.Pop().Dispose();
                    continue;
                }

                var (fullPath, relative, isFile) = entries.Current;
                if (!isFile)
                {
                    walk.Push(SortedEntries(fullPath, relative, prefix).GetEnumerator());
                    continue;
                }

                var info = new FileInfo(fullPath);
                if (info.Exists)
                {
                    yield return new BlobItem(new BlobRef(container, relative), info.Length, new DateTimeOffset(info.LastWriteTimeUtc));
                }
            }
        }
        finally
        {
            while (walk.Count > 0)
            {
                walk.Pop().Dispose();
            }
        }
    }

    private static IEnumerable<(string FullPath, string Relative, bool IsFile)> SortedEntries(string folder, string relativeFolder, string prefix)
    {
        var options = new EnumerationOptions { AttributesToSkip = 0, IgnoreInaccessible = true, RecurseSubdirectories = false };
        List<(string Key, string FullPath, string Relative, bool IsFile)> entries = [];
        try
        {
            foreach (var entry in new DirectoryInfo(folder).EnumerateFileSystemInfos("*", options))
            {
                var isFile = entry is FileInfo;
                var relative = relativeFolder + entry.Name;
                var key = isFile ? relative : relative + "/";
                var relevant = isFile ? key.StartsWith(prefix, StringComparison.Ordinal)
                    : key.StartsWith(prefix, StringComparison.Ordinal) || prefix.StartsWith(key, StringComparison.Ordinal);
                if (relevant)
                {
                    entries.Add((key, entry.FullName, key, isFile));
                }
            }
        }
        catch (DirectoryNotFoundException)
        {
            // Nothing under this prefix (or the folder was just removed by a delete).
        }

        entries.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        return entries.Select(e => (e.FullPath, e.Relative, e.IsFile));
    }

    private string ContainerFolder(string container) => Path.Combine(_root, _containers.Require(container));

    private string Resolve(BlobRef blob)
    {
        _containers.Require(blob);
        return InsideContainer(blob.Container, Path.Combine(_root, blob.Container), blob.Path, nameof(blob));
    }

    /// <summary>
    /// The full local path of a relative path that keeps <see cref="BlobPath"/>'s rule. Defence in depth: the rule already
    /// keeps it inside the container's folder, and this checks that the file system agrees (rooted names on Windows).
    /// </summary>
    private static string InsideContainer(string container, string containerFolder, string path, string parameterName)
    {
        var fullPath = Path.GetFullPath(Path.Combine(containerFolder, path));
        if (!fullPath.StartsWith(containerFolder + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw new ArgumentException($"Blob path '{path}' resolves outside its container '{container}'.", parameterName);
        }

        return fullPath;
    }

    private static void ThrowIfExists(BlobRef blob, string path, bool overwrite)
    {
        if (!overwrite && File.Exists(path))
        {
            throw new BlobAlreadyExistsException(blob);
        }
    }

    /// <summary>Atomically renames a complete temp file to its blob path; without overwrite an existing blob always wins.</summary>
    private static void MoveIntoPlace(BlobRef blob, string temp, string destination, bool overwrite)
    {
        for (var attempt = 1; ; attempt++)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
            try
            {
                if (overwrite || !TryLinkIntoPlace(blob, temp, destination))
                {
                    File.Move(temp, destination, overwrite);
                }

                return;
            }
            catch (IOException) when (!overwrite && File.Exists(destination))
            {
                throw new BlobAlreadyExistsException(blob);
            }
            catch (DirectoryNotFoundException) when (attempt < FolderRaceRetries && File.Exists(temp))
            {
                // A concurrent delete removed the (then empty) parent folder; create it again.
            }
        }
    }

    /// <summary>
    /// A create that only one of many racers can win: link(2) fails with EEXIST when the name exists, atomically
    /// (File.Move without overwrite checks and then renames: two racers were both seen winning). False where the
    /// filesystem has no hard links; the caller then moves as before.
    /// </summary>
    private static bool TryLinkIntoPlace(BlobRef blob, string temp, string destination)
    {
        if (OperatingSystem.IsWindows())
        {
            return false;
        }

        if (NativeMethods.Link(temp, destination) == 0)
        {
            File.Delete(temp);
            return true;
        }

        return Marshal.GetLastPInvokeError() switch
        {
            NativeMethods.EEXIST => throw new BlobAlreadyExistsException(blob),
            NativeMethods.ENOENT => throw new DirectoryNotFoundException($"'{Path.GetDirectoryName(destination)}' went away while '{destination}' was created"),
            _ => false,
        };
    }

    private static FileStream OpenForAppend(string path)
    {
        for (var attempt = 1; ; attempt++)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.Write, SharedAccess, 0, FileOptions.Asynchronous);
            }
            catch (DirectoryNotFoundException) when (attempt < FolderRaceRetries)
            {
                // A concurrent delete removed the (then empty) parent folder; create it again.
            }
        }
    }

    private static FileStream OpenSourceForCopy(BlobRef blob, string path)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, SharedAccess, 0, FileOptions.Asynchronous | FileOptions.SequentialScan);
        }
        catch (Exception e) when (IsMissing(e, path))
        {
            throw new BlobNotFoundException(blob);
        }
    }

    // Temp files are private to one operation, so they are not shared.
    private static FileStream CreateTempFile(string path) =>
        new(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 0, FileOptions.Asynchronous | FileOptions.SequentialScan);

    private string NewTempPath()
    {
        Directory.CreateDirectory(_tempFolder);
        return Path.Combine(_tempFolder, Guid.NewGuid().ToString("N") + ".tmp");
    }

    /// <summary>Copies with one large pooled buffer, feeding the hash; returns the number of bytes copied.</summary>
    private static async Task<long> CopyAsync(Stream input, Stream? output, IncrementalHash? hash, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            long total = 0;
            int read;
            while ((read = await input.ReadAsync(buffer.AsMemory(0, BufferSize), cancellationToken)) > 0)
            {
                hash?.AppendData(buffer, 0, read);
                if (output is not null)
                {
                    await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                }

                total += read;
            }

            return total;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static bool IsMissing(Exception e, string path) =>
        e is FileNotFoundException or DirectoryNotFoundException
        || (e is UnauthorizedAccessException && Directory.Exists(path)); // a folder is not a blob

    private static void TryDeleteFile(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: a stray temp file is invisible to readers and lists.
        }
    }

    private static void RemoveEmptyFolders(string folder, string containerFolder)
    {
        while (folder.Length > containerFolder.Length && folder.StartsWith(containerFolder + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            try
            {
                Directory.Delete(folder, recursive: false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return; // not empty (or already gone): stop climbing
            }

            folder = Path.GetDirectoryName(folder)!;
        }
    }

    private async Task<AppendGate> AcquireAppendGateAsync(string path, CancellationToken cancellationToken)
    {
        AppendGate gate;
        lock (_appendGates)
        {
            if (!_appendGates.TryGetValue(path, out gate!))
            {
                gate = new AppendGate();
                _appendGates.Add(path, gate);
            }

            gate.Users++;
        }

        try
        {
            await gate.Semaphore.WaitAsync(cancellationToken);
            return gate;
        }
        catch
        {
            Leave(path, gate);
            throw;
        }
    }

    private void ReleaseAppendGate(string path, AppendGate gate)
    {
        gate.Semaphore.Release();
        Leave(path, gate);
    }

    // Gates are reference counted so the table holds only blobs being appended to right now.
    private void Leave(string path, AppendGate gate)
    {
        lock (_appendGates)
        {
            if (--gate.Users == 0)
            {
                _appendGates.Remove(path);
                gate.Dispose();
            }
        }
    }

    private sealed class AppendGate : IDisposable
    {
        public SemaphoreSlim Semaphore { get; } = new(1, 1);

        public int Users { get; set; }

        public void Dispose() => Semaphore.Dispose();
    }
}
