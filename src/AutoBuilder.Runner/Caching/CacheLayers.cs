using System.Globalization;
using System.Runtime.InteropServices;
using AutoBuilder.Runner.Processes;

namespace AutoBuilder.Runner.Caching;

/// <summary>
/// Read-only copies of exact cache hits kept on this machine ({cache}/layers/{projectId}/{key}), shared through overlayfs
/// by every build of that project and key: each build sees the copy as the lower layer of its cache folders and writes
/// into an upper layer in its own workspace, so nothing a build does reaches the copy or another build. An exact hit whose
/// copy is here costs a mount instead of a download and unpack. Root only (mount(2)); other runners unpack privately.
/// </summary>
/// <remarks>
/// The layers folder is root's and closed (0700): a build reaches a copy only as the lower layer of its own mount. The
/// copy's files belong to the build user, so what overlayfs copies up on a write stays the build user's. Copies are
/// bounded by <see cref="MaxBytes"/>, least recently used first; one in use (a shared lock on its marker) is never evicted.
/// A copy is found by key but used only when it is the copy of the archive the catalog names now: its marker records the
/// archive's SHA-256, compared with the restore's answer, so a deleted (or replaced) cache never comes back from here.
/// </remarks>
public sealed class CacheLayers
{
    private const string Ready = ".ready";
    private const string Incoming = ".incoming";

    private CacheLayers(string root, long maxBytes)
    {
        Root = root;
        MaxBytes = maxBytes;
    }

    /// <summary>{cache}/layers: one folder per project, one copy per key.</summary>
    public string Root { get; }

    /// <summary>What the copies may hold together on this machine.</summary>
    public long MaxBytes { get; }

    /// <summary>The layers under <paramref name="cacheDirectory"/>, or null where they cannot work (not root, not Linux, no overlayfs, no cache folder).</summary>
    public static CacheLayers? For(string? cacheDirectory, long maxBytes)
    {
        if (cacheDirectory is null || !OperatingSystem.IsLinux() || !Environment.IsPrivilegedProcess || !OverlaySupported())
        {
            return null;
        }

        var root = Path.GetFullPath(Path.Combine(cacheDirectory, "layers"));
        if (!MountSafe(root))
        {
            return null;
        }

        Directory.CreateDirectory(root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.SetUnixFileMode(root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return new CacheLayers(root, maxBytes);
    }

    /// <summary>
    /// The ready copy of a key made from the archive whose SHA-256 is <paramref name="sha256"/>, held in use until the
    /// returned lease is disposed; null when this machine has none (or only a copy of another archive).
    /// </summary>
    public Lease? Find(string projectId, string key, string sha256)
    {
        var copy = CopyOf(projectId, key);
        FileStream? marker = null;
        try
        {
            marker = new FileStream(Path.Combine(copy, Ready), FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            if (!string.Equals(Sha256Of(marker), sha256, StringComparison.OrdinalIgnoreCase))
            {
                marker.Dispose();
                return null;
            }

            File.SetLastWriteTimeUtc(marker.Name, DateTime.UtcNow); // last use, for eviction
            return new Lease(copy, marker);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            marker?.Dispose();
            return null; // absent, half-made (no marker yet) or being evicted
        }
    }

    /// <summary>
    /// Removes this machine's copy of a key under <paramref name="cacheDirectory"/> (the cache was deleted through the
    /// API). A copy a build holds stays until it is evicted, and no restore takes it meanwhile: its SHA-256 is no longer
    /// the catalog's. True when the copy is gone.
    /// </summary>
    public static bool Remove(string cacheDirectory, string projectId, string key)
    {
        ArgumentException.ThrowIfNullOrEmpty(cacheDirectory);
        var layers = new CacheLayers(Path.GetFullPath(Path.Combine(cacheDirectory, "layers")), 0);
        var copy = layers.CopyOf(projectId, key);
        return !Directory.Exists(copy) || layers.TryRetire(copy);
    }

    /// <summary>
    /// Makes the copy of a key: <paramref name="fill"/> writes it into a fresh folder, which becomes the copy whole (a
    /// rename) with its size in the marker; a copy another build made meanwhile wins and ours is dropped.
    /// </summary>
    public async Task<Lease> AddAsync(string projectId, string key, string sha256, BuildUser? owner, Func<string, Task<long>> fill)
    {
        ArgumentNullException.ThrowIfNull(fill);
        var incoming = Path.Combine(Root, Incoming, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(incoming);
        try
        {
            var size = await fill(incoming).ConfigureAwait(false);
            await File.WriteAllTextAsync(Path.Combine(incoming, Ready), string.Create(CultureInfo.InvariantCulture, $"{size} {sha256}")).ConfigureAwait(false);
            if (owner is not null)
            {
                BuildUserAccess.GiveTo(incoming, owner);
            }

            var copy = CopyOf(projectId, key);
            Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
            if (Directory.Exists(copy))
            {
                // A copy of another archive (the cache was deleted or replaced since) makes way, unless a build still holds it.
                using var current = Find(projectId, key, sha256);
                if (current is null && !TryRetire(copy))
                {
                    throw new IOException($"this machine's read-only copy of {key} is of another archive and still in use");
                }
            }

            try
            {
                Directory.Move(incoming, copy);
            }
            catch (IOException) when (Directory.Exists(copy))
            {
                // Another build of this key made it first.
            }

            Evict(keep: copy);
            return Find(projectId, key, sha256) ?? throw new IOException($"the read-only copy of {key} vanished as it was made");
        }
        finally
        {
            KeyedCache.TryDelete(incoming);
        }
    }

    /// <summary>
    /// Mounts each target folder as an overlay: the copy's folder of that name below, an upper layer of the build's own
    /// in <paramref name="layerRoot"/> (owned by <paramref name="owner"/>) above. Returns the mounted folders.
    /// </summary>
    public static IReadOnlyList<string> Mount(Lease lease, IEnumerable<(string Destination, string Name)> targets, string layerRoot, BuildUser? owner)
    {
        ArgumentNullException.ThrowIfNull(lease);
        ArgumentNullException.ThrowIfNull(targets);
        var mounted = new List<string>();
        try
        {
            var i = 0;
            foreach (var (destination, name) in targets)
            {
                var lower = Path.Combine(lease.Copy, name);
                if (!Directory.Exists(lower))
                {
                    continue;
                }

                var upper = Path.Combine(layerRoot, i.ToString(CultureInfo.InvariantCulture), "upper");
                var work = Path.Combine(layerRoot, i.ToString(CultureInfo.InvariantCulture), "work");
                i++;
                Directory.CreateDirectory(upper);
                Directory.CreateDirectory(work);
                Directory.CreateDirectory(destination);
                if (owner is not null)
                {
                    BuildUserAccess.GiveTo(upper, owner);
                    BuildUserAccess.GiveTo(destination, owner);
                }

                if (!MountSafe(lower) || !MountSafe(upper) || !MountSafe(work) || !MountSafe(destination))
                {
                    throw new IOException("a path holds ',' or ':', which an overlay mount cannot name");
                }

                if (MountNative(destination, $"lowerdir={lower},upperdir={upper},workdir={work}") != 0)
                {
                    throw new IOException($"mounting the overlay at {destination} failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
                }

                mounted.Add(destination);
            }

            return mounted;
        }
        catch
        {
            Unmount(mounted);
            throw;
        }
    }

    /// <summary>
    /// Detaches the mounts (lazily: a process still inside one keeps it until it leaves). Each is reached without
    /// following a link anywhere on its path (openat2 RESOLVE_NO_SYMLINKS) and detached through /proc/self/fd: the build
    /// owns the folders above a mount and may have swapped one for a link to another build's mount. One that cannot be
    /// reached so is left to the workspace's delete, which finds it wherever it went (<see cref="UnmountUnder"/>).
    /// </summary>
    public static void Unmount(IEnumerable<string> mounted)
    {
        ArgumentNullException.ThrowIfNull(mounted);
        foreach (var target in mounted.Reverse())
        {
            using var mount = OperatingSystem.IsLinux() ? DirectoryHandle.OpenWithoutLinks(target) : null;
            if (mount is not null)
            {
                _ = UmountNative($"/proc/self/fd/{mount.Descriptor}", MntDetach);
            }
        }
    }

    /// <summary>
    /// Detaches every mount below <paramref name="workspace"/> (a workspace about to be deleted, also one a killed runner
    /// left mounted): deleting through an overlay would only whiteout its upper layer, and the mount would stay. Each
    /// mount is reached from the workspace's descriptor one folder at a time without following a link, and detached
    /// through /proc/self/fd, so a build that swapped a folder for a link cannot point the unmount anywhere else.
    /// </summary>
    public static void UnmountUnder(DirectoryHandle workspace)
    {
        ArgumentNullException.ThrowIfNull(workspace);
        if (!OperatingSystem.IsLinux() || !Environment.IsPrivilegedProcess)
        {
            return;
        }

        var prefix = Path.GetFullPath(workspace.Path).TrimEnd('/') + "/";
        List<string> below;
        try
        {
            // mountinfo's fifth field is the mount point where it is now, with spaces and the like octal-escaped (ours have none).
            below = File.ReadLines("/proc/self/mountinfo")
                .Select(line => line.Split(' '))
                .Where(fields => fields.Length > 4 && fields[4].StartsWith(prefix, StringComparison.Ordinal) && !fields[4].Contains('\\', StringComparison.Ordinal))
                .Select(fields => fields[4][prefix.Length..])
                .OrderByDescending(relative => relative.Length)
                .ToList();
        }
        catch (IOException)
        {
            return;
        }

        foreach (var relative in below)
        {
            var opened = new List<DirectoryHandle>();
            try
            {
                var names = relative.Split('/', StringSplitOptions.RemoveEmptyEntries);
                var folder = workspace;
                foreach (var name in names)
                {
                    if (folder.OpenChild(name) is not { } child)
                    {
                        break;
                    }

                    opened.Add(child);
                    folder = child;
                }

                if (opened.Count == names.Length && names.Length > 0)
                {
                    _ = UmountNative($"/proc/self/fd/{folder.Descriptor}", MntDetach);
                }
            }
            catch (IOException)
            {
                // Gone meanwhile.
            }
            finally
            {
                opened.ForEach(handle => handle.Dispose());
            }
        }
    }

    /// <summary>Deletes the least recently used copies not in use until the rest fit <see cref="MaxBytes"/>.</summary>
    public void Evict(string? keep = null)
    {
        var copies = Directory.Exists(Root)
            ? Directory.EnumerateDirectories(Root).Where(d => Path.GetFileName(d) != Incoming).SelectMany(Directory.EnumerateDirectories)
                .Select(copy => (Copy: copy, Marker: new FileInfo(Path.Combine(copy, Ready))))
                .Where(c => c.Marker.Exists)
                .Select(c => (c.Copy, c.Marker.LastWriteTimeUtc, Size: SizeOf(c.Marker)))
                .OrderBy(c => c.LastWriteTimeUtc)
                .ToList()
            : [];
        var total = copies.Sum(c => c.Size);
        foreach (var (copy, _, size) in copies)
        {
            if (total <= MaxBytes)
            {
                break;
            }

            if (copy == keep || !TryRetire(copy))
            {
                continue;
            }

            total -= size;
        }
    }

    /// <summary>Removes a copy unless a build holds it: the marker goes first (under an exclusive lock), then the rest.</summary>
    private bool TryRetire(string copy)
    {
        var marker = Path.Combine(copy, Ready);
        var retired = Path.Combine(Root, Incoming, "retired-" + Guid.NewGuid().ToString("N"));
        try
        {
            using (new FileStream(marker, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
            {
                Directory.CreateDirectory(Path.GetDirectoryName(retired)!);
                Directory.Move(copy, retired);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false; // in use, or gone already
        }

        KeyedCache.TryDelete(retired);
        return true;
    }

    /// <summary>The marker holds "{size} {sha256}": the copy's bytes and the archive it was made from.</summary>
    private static long SizeOf(FileInfo marker)
    {
        try
        {
            return long.TryParse(File.ReadAllText(marker.FullName).Split(' ')[0], NumberStyles.None, CultureInfo.InvariantCulture, out var size) ? size : 0;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    private static string? Sha256Of(FileStream marker)
    {
        using var reader = new StreamReader(marker, leaveOpen: true);
        var fields = reader.ReadToEnd().Split(' ');
        marker.Position = 0;
        return fields.Length == 2 ? fields[1].Trim() : null; // a marker of before the hash was recorded matches nothing
    }

    private string CopyOf(string projectId, string key) => Path.Combine(Root, projectId, key);

    /// <summary>The overlay mount options separate paths with ',' and ':'.</summary>
    private static bool MountSafe(string path) => !path.Contains(',', StringComparison.Ordinal) && !path.Contains(':', StringComparison.Ordinal);

    private static bool OverlaySupported()
    {
        try
        {
            return File.ReadLines("/proc/filesystems").Any(line => line.EndsWith("\toverlay", StringComparison.Ordinal));
        }
        catch (IOException)
        {
            return false;
        }
    }

    private const int MntDetach = 2;

    private static int MountNative(string target, string options) => NativeMethods.Mount("overlay", target, "overlay", 0, options);

    private static int UmountNative(string target, int flags) => NativeMethods.Umount2(target, flags);

    /// <summary>A copy in use by one build: the open marker is a shared lock that eviction's exclusive one cannot take.</summary>
    public sealed class Lease(string copy, FileStream marker) : IDisposable
    {
        public string Copy { get; } = copy;

        public void Dispose() => marker.Dispose();
    }
}
