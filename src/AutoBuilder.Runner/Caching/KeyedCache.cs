using System.Globalization;
using AutoBuilder.Core;
using AutoBuilder.Core.Builds;
using AutoBuilder.Core.Protocol;
using AutoBuilder.Runner.Api;
using AutoBuilder.Runner.Configuration;
using AutoBuilder.Runner.Processes;
using AutoBuilder.Runner.Publishing;

namespace AutoBuilder.Runner.Caching;

/// <summary>Where an exact hit may be layered: this machine's copies, the build's project, and who the build runs as.</summary>
public sealed record LayerRequest(CacheLayers Layers, string ProjectId, BuildUser? Owner);

/// <summary>What one build's keyed cache is: its key and the folders an archive of it holds.</summary>
/// <param name="Toolchain">The resolved toolchain; the archive belongs to it.</param>
/// <param name="Key">The key and restore keys (<see cref="CacheKey"/>).</param>
/// <param name="CacheRoot">The build's private cache folder ({workspace}/cache).</param>
/// <param name="Home">The build's HOME, which <paramref name="HomePaths"/> are relative to.</param>
/// <param name="Workspace">Where the restore and the save keep their scratch files.</param>
/// <param name="Folders">The toolchain's folders, relative to <paramref name="CacheRoot"/>.</param>
/// <param name="HomePaths">autobuilder.yml's cache.paths, relative to HOME.</param>
/// <param name="MaxArchiveBytes">Caches:MaxArchiveBytes: a larger archive is not saved.</param>
public sealed record CachePlan(
    string Toolchain, CacheKey Key, string CacheRoot, string Home, string Workspace,
    IReadOnlyList<string> Folders, IReadOnlyList<string> HomePaths, long MaxArchiveBytes);

/// <summary>
/// The runner's side of keyed dependency caches (docs/ARCHITECTURE.md, "Dependency caches"): before the build, the
/// best archive of the project is streamed from the blob store, verified and unpacked into the build's private cache;
/// after a successful build whose restore was not exact, the cache is packed and created under its key, first writer
/// wins. Nothing here fails a build: every problem is one log line, and the build goes on cold or unsaved.
/// </summary>
public sealed class KeyedCache(RunnerApiClient api, Func<string, CancellationToken, ValueTask> log, TimeProvider? time = null) : IDisposable
{
    private const string ArchiveCacheName = "cache";
    private const string ArchiveHomeName = "home";

    private readonly TimeProvider _time = time ?? TimeProvider.System;

    private CacheLayers.Lease? _layer;
    /// <summary>The entry whose archive the restore found broken; the save asks the server to drop it.</summary>
    private string? _unusable;
    private IReadOnlyList<string> _mounted = [];

    /// <summary>The folders an exact hit mounted over this machine's read-only copy (unmounted by <see cref="Dispose"/>).</summary>
    public IReadOnlyList<string> Mounted => _mounted;

    /// <summary>Unmounts the layers and releases the copy, after the build (and its save, which an exact hit skips).</summary>
    public void Dispose()
    {
        CacheLayers.Unmount(_mounted);
        _mounted = [];
        _layer?.Dispose();
        _layer = null;
    }

    /// <summary>The private cache of a build: on its own local disk, shared with nothing.</summary>
    public static string PrivateFolder(string workspace) => Path.Combine(workspace, "cache");

    /// <summary>The folders of each toolchain's cache, relative to the cache root (see <c>ToolchainResolver</c>).</summary>
    public static IReadOnlyList<string> FoldersOf(string toolchain) => toolchain switch
    {
        Toolchains.Maven => ["maven/repository"],
        Toolchains.Gradle => ["gradle"],
        Toolchains.Npm => ["npm", "corepack"],
        Toolchains.DotNet => ["nuget"],
        _ => [],
    };

    /// <summary>
    /// Files an archive leaves out, by path relative to the cache root: what is only valid in the process that wrote it
    /// (Gradle's locks, daemon logs, journal and GC marks, as GitHub's setup-gradle leaves out) or records a failure
    /// (Maven's *.lastUpdated) rather than a dependency.
    /// </summary>
    public static bool IsExcluded(string relativeToCacheRoot)
    {
        var path = relativeToCacheRoot;
        var name = path[(path.LastIndexOf('/') + 1)..];
        if (path.StartsWith("gradle/", StringComparison.Ordinal))
        {
            return name.EndsWith(".lock", StringComparison.Ordinal) || name == "gc.properties"
                || path is "gradle/daemon" or "gradle/caches/journal-1" or "gradle/notifications"
                || path.StartsWith("gradle/daemon/", StringComparison.Ordinal) || path.StartsWith("gradle/caches/journal-1/", StringComparison.Ordinal);
        }

        return name.EndsWith(".lastUpdated", StringComparison.Ordinal) || path is "npm/_logs" or "npm/_cacache/tmp";
    }

    /// <summary>The plan for a build, or null when nothing keys its cache (no manifests of the toolchain, or autobuilder.yml's key files).</summary>
    public static CachePlan? Plan(string sourceRoot, string toolchain, CacheConfig? config, string cacheRoot, string home, string workspace, long maxArchiveBytes)
    {
        var key = CacheKey.Compute(sourceRoot, toolchain, config?.Key);
        return key is null ? null : new CachePlan(toolchain, key, cacheRoot, home, workspace, FoldersOf(toolchain), config?.Paths ?? [], maxArchiveBytes);
    }

    /// <summary>
    /// Restores the best archive into the plan's folders; true when it was an exact hit (nothing to save afterwards).
    /// With <paramref name="layers"/>, an exact hit is mounted over this machine's read-only copy of it (made first if
    /// missing) instead of unpacked. Bounded by <paramref name="limit"/>; any failure leaves the folders empty and the build cold.
    /// </summary>
    public async Task<bool> RestoreAsync(CachePlan plan, TimeSpan limit, CancellationToken cancellationToken, LayerRequest? layers = null)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var key = plan.Key.Key;
        var scratch = Path.Combine(plan.Workspace, "cache-restore");
        var started = _time.GetTimestamp();
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(limit);
        string? reason;
        CacheHit? hit = null;
        try
        {
            hit = await api.RestoreCacheAsync(new CacheRestoreRequest(plan.Toolchain, key, plan.Key.RestoreKeys), bounded.Token).ConfigureAwait(false);
            if (hit is null)
            {
                reason = "no cache saved under this key or its restore keys";
            }
            else if (hit.Exact && layers is not null && await TryLayerAsync(plan, hit, layers, started, bounded.Token).ConfigureAwait(false))
            {
                return true;
            }
            else
            {
                UnpackResult unpacked;
                var source = await api.OpenReadAsync(hit.Url, "download", bounded.Token).ConfigureAwait(false);
                await using (source.ConfigureAwait(false))
                {
                    unpacked = await CacheArchive.UnpackAsync(source, scratch, hit.Sha256, plan.MaxArchiveBytes, bounded.Token).ConfigureAwait(false);
                }

                MoveInto(plan, scratch);
                var how = hit.Exact ? "exact" : $"from restore key {plan.Key.RestoreKeys.FirstOrDefault(p => hit.Key.StartsWith(p, StringComparison.Ordinal)) ?? "?"}";
                await log(string.Create(CultureInfo.InvariantCulture,
                    $"cache: restored {hit.Key} ({how}), {unpacked.FileCount:N0} files, {OutputPublisher.Size(unpacked.Digest.Size)} in {BuildProcess.Describe(_time.GetElapsedTime(started))}"), cancellationToken).ConfigureAwait(false);
                return hit.Exact;
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            reason = $"it did not finish within {BuildProcess.Describe(limit)}";
        }
        catch (CacheArchiveException ex)
        {
            // The archive itself is broken (not the network): the next save of this build replaces the entry.
            reason = ex.Message;
            _unusable = hit?.CacheId;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            reason = ex.Message;
        }
        finally
        {
            TryDelete(scratch);
        }

        // Whatever a failed restore left behind is not trusted: the build starts from empty folders.
        foreach (var target in Targets(plan))
        {
            TryDelete(target.Destination);
        }

        await log($"cache: restore of {key} skipped: {reason}; building cold", cancellationToken).ConfigureAwait(false);
        return false;
    }

    /// <summary>Mounts an exact hit over the machine's read-only copy; false (said in the log) when that cannot be done here.</summary>
    private async Task<bool> TryLayerAsync(CachePlan plan, CacheHit hit, LayerRequest request, long started, CancellationToken cancellationToken)
    {
        var lease = request.Layers.Find(request.ProjectId, hit.Key, hit.Sha256);
        var found = lease is not null;
        try
        {
            lease ??= await request.Layers.AddAsync(request.ProjectId, hit.Key, hit.Sha256, request.Owner, async folder =>
            {
                var source = await api.OpenReadAsync(hit.Url, "download", cancellationToken).ConfigureAwait(false);
                await using (source.ConfigureAwait(false))
                {
                    return (await CacheArchive.UnpackAsync(source, folder, hit.Sha256, plan.MaxArchiveBytes, cancellationToken).ConfigureAwait(false)).TotalBytes;
                }
            }).ConfigureAwait(false);
            _mounted = CacheLayers.Mount(lease, Targets(plan), Path.Combine(plan.Workspace, "cache-layers"), request.Owner);
            _layer = lease;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or HttpRequestException or RunnerStoppedException)
        {
            // A broken archive (CacheArchiveException) is not this machine's problem: it goes up, and the build goes cold.
            lease?.Dispose();
            await log($"cache: the read-only copy of {hit.Key} on this machine is not used: {ex.Message}", cancellationToken).ConfigureAwait(false);
            return false;
        }

        await log(found
            ? $"cache: restored {hit.Key} (exact) from this machine's read-only copy in {BuildProcess.Describe(_time.GetElapsedTime(started))}"
            : string.Create(CultureInfo.InvariantCulture, $"cache: restored {hit.Key} (exact), {OutputPublisher.Size(hit.Size)} in {BuildProcess.Describe(_time.GetElapsedTime(started))}; its read-only copy stays on this machine for the next builds"),
            cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// Packs the plan's folders and creates the key's archive, then registers it. The folders are read by tar as the build
    /// user with the build's own view (<paramref name="view"/>; <see cref="CachePathPacker"/>), never by this process.
    /// Bounded by <paramref name="limit"/>; a failure is one log line and changes nothing about the build.
    /// </summary>
    public async Task SaveAsync(CachePlan plan, TimeSpan limit, CancellationToken cancellationToken, BuildUserView? view = null)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var key = plan.Key.Key;
        var archive = Path.Combine(plan.Workspace, "cache-save.tar.zst");
        var started = _time.GetTimestamp();
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(limit);
        string line;
        try
        {
            PackResult packed;
            var file = new FileStream(archive, FileMode.Create, FileAccess.Write, FileShare.None, 81920, useAsync: true);
            await using (file.ConfigureAwait(false))
            {
                var writer = CacheArchive.CreateWriter(new LimitedStream(file, plan.MaxArchiveBytes));
                await using (writer.ConfigureAwait(false))
                {
                    foreach (var path in Paths(plan))
                    {
                        var folder = path.Name.StartsWith(ArchiveCacheName + "/", StringComparison.Ordinal) ? path.Name[(ArchiveCacheName.Length + 1)..] : null;
                        var result = await CachePathPacker.PackAsync(
                            path, view ?? BuildUserView.Runner, writer, plan.MaxArchiveBytes,
                            folder is null ? null : relative => IsExcluded($"{folder}/{relative}"),
                            limit, _time, bounded.Token).ConfigureAwait(false);
                        if (result.Skipped is { } why)
                        {
                            await log($"cache: {Printable.Of(path.Relative)} not saved: {why}", cancellationToken).ConfigureAwait(false);
                        }

                        if (result.Refused > 0)
                        {
                            await log(string.Create(CultureInfo.InvariantCulture,
                                $"cache: {result.Refused:N0} entries of {Printable.Of(path.Relative)} not saved: a cache archive cannot carry their names (one is '{Printable.Of(result.FirstRefused)}')"), cancellationToken).ConfigureAwait(false);
                        }
                    }

                    packed = await writer.CompleteAsync().ConfigureAwait(false);
                }
            }

            if (packed.FileCount == 0)
            {
                line = $"cache: {key} not saved: the cache is empty";
            }
            else
            {
                var grant = await api.SaveCacheAsync(new CacheSaveRequest(plan.Toolchain, key, _unusable), bounded.Token).ConfigureAwait(false);
                if (grant.Url is null || !await api.CreateFileAsync(grant.Url, archive, packed.Digest.Sha256, "upload", bounded.Token).ConfigureAwait(false))
                {
                    line = $"cache: {key} was saved by another build first";
                }
                else if (await api.CommitCacheAsync(new CacheCommitRequest(plan.Toolchain, key, packed.Digest.Size, packed.Digest.Sha256), bounded.Token).ConfigureAwait(false) is { } refused)
                {
                    line = $"cache: {key} was saved by another build first ({refused})";
                }
                else
                {
                    line = string.Create(CultureInfo.InvariantCulture,
                        $"cache: saved {key}, {packed.FileCount:N0} files, {OutputPublisher.Size(packed.Digest.Size)} in {BuildProcess.Describe(_time.GetElapsedTime(started))}");
                }
            }
        }
        catch (Exception ex) when (ex is ArchiveTooLargeException or CacheContentTooLargeException)
        {
            // Its files count by apparent size: a sparse file is small in the archive, but each restore writes it whole.
            line = $"cache: {key} not saved: its archive would exceed Caches:MaxArchiveBytes ({OutputPublisher.Size(plan.MaxArchiveBytes)})";
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            line = $"cache: save of {key} skipped: it did not finish within {BuildProcess.Describe(limit)}";
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            line = $"cache: save of {key} failed: {ex.Message}";
        }
        finally
        {
            TryDelete(archive);
        }

        await log(line, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Each folder of the plan, by where it lives and the entry name it has in an archive.</summary>
    private static IEnumerable<(string Destination, string Name)> Targets(CachePlan plan) =>
        Paths(plan).Select(p => (Path.Combine(p.Root, p.Relative), p.Name));

    /// <summary>Each folder of the plan beneath its root: the toolchain's beneath the cache root, cache.paths beneath HOME.</summary>
    private static IEnumerable<CachePath> Paths(CachePlan plan) =>
        plan.Folders.Select(f => new CachePath(plan.CacheRoot, f, $"{ArchiveCacheName}/{f}"))
            .Concat(plan.HomePaths.Select(p => new CachePath(plan.Home, p, $"{ArchiveHomeName}/{p}")));

    /// <summary>Moves the plan's folders out of the unpacked archive; anything else the archive held stays behind and is deleted.</summary>
    private static void MoveInto(CachePlan plan, string scratch)
    {
        foreach (var (destination, name) in Targets(plan))
        {
            var unpacked = Path.Combine(scratch, name);
            if (!Directory.Exists(unpacked))
            {
                continue;
            }

            TryDelete(destination);
            Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
            Directory.Move(unpacked, destination);
        }
    }

    /// <summary>Deletes a folder or file if it can; what stays goes with the workspace, or the next eviction.</summary>
    internal static void TryDelete(string path)
    {
        try
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
            else
            {
                File.Delete(path);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The workspace goes with the attempt.
        }
    }

    private sealed class ArchiveTooLargeException() : IOException("the archive is larger than Caches:MaxArchiveBytes");

    /// <summary>Stops writing an archive once it passes the limit, rather than filling the disk first and checking after.</summary>
    private sealed class LimitedStream(Stream inner, long limit) : Stream
    {
        private long _written;

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => _written;
        public override long Position { get => _written; set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            Count(buffer.Length);
            inner.Write(buffer);
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Count(buffer.Length);
            return inner.WriteAsync(buffer, cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush() => inner.Flush();

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        private void Count(int bytes)
        {
            _written += bytes;
            if (_written > limit)
            {
                throw new ArchiveTooLargeException();
            }
        }
    }
}
