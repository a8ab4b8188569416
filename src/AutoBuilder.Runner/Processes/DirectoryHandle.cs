using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace AutoBuilder.Runner.Processes;

/// <summary>
/// An open directory (a descriptor), and what privileged code may do in a tree the build controls: every step is
/// relative to a descriptor it opened itself, and no symbolic link is ever followed (openat O_NOFOLLOW|O_DIRECTORY,
/// statx and unlinkat on the entry itself). A build that plants `src/x -> /etc`, or swaps a folder for a link while root
/// walks it, can at most make the walk skip or unlink that link (docs/SECURITY.md, "The trust boundary").
/// </summary>
public sealed partial class DirectoryHandle : IDisposable
{
    /// <summary>Deeper than this a tree is not walked on (PATH_MAX keeps every path-based tool far above it).</summary>
    public const int MaxDepth = 4096;

    /// <summary>How many times a folder being deleted is read again for entries that appeared meanwhile.</summary>
    private const int MaxPasses = 100;

    private const int ENOENT = 2, EACCES = 13, ENOTDIR = 20, EISDIR = 21, ENOTEMPTY = 39, ELOOP = 40;
    private const int AT_SYMLINK_NOFOLLOW = 0x100, AT_REMOVEDIR = 0x200, AT_EMPTY_PATH = 0x1000;
    private const int O_CLOEXEC = 0x80000, O_PATH = 0x200000;
    private const uint STATX_BASIC = 0x7ff;
    private const int StatxSizeOffset = 40;
    private const byte DT_DIR = 4, DT_UNKNOWN = 0;
    /// <summary>openat2(2): the same number on every architecture (the unified syscall table).</summary>
    private const long SysOpenat2 = 437;
    private const ulong ResolveNoSymlinks = 0x04;

    // The two flags whose values differ between architectures (asm-generic vs x86).
    private static readonly bool Arm = RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm;
    private static readonly int O_DIRECTORY = Arm ? 0x4000 : 0x10000;
    private static readonly int O_NOFOLLOW = Arm ? 0x8000 : 0x20000;

    private readonly SafeFileHandle _fd;

    private DirectoryHandle(SafeFileHandle fd, string path)
    {
        _fd = fd;
        Path = path;
    }

    /// <summary>Where the directory was when it was opened (for messages, and for children's <see cref="Path"/>); never resolved again.</summary>
    public string Path { get; }

    /// <summary>The descriptor's number, for /proc/self/fd/N (umount2 of a mount reached through descriptors).</summary>
    public int Descriptor => (int)_fd.DangerousGetHandle();

    /// <summary>
    /// Opens a folder of the server's own (the workspace root, a workspace it made): its parents are trusted; the folder
    /// itself must be a directory, not a link. Throws <see cref="IOException"/> naming the path otherwise.
    /// </summary>
    public static DirectoryHandle Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var fd = Native.OpenAt(-100, path, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
        return fd.IsInvalid ? throw Error($"cannot open the folder '{path}'", Marshal.GetLastPInvokeError(), fd) : new DirectoryHandle(fd, path);
    }

    /// <summary>
    /// A folder reached without following a link in any component of <paramref name="path"/> (openat2
    /// RESOLVE_NO_SYMLINKS), or null when one is a link, it is missing or the kernel has no openat2 (before 5.6).
    /// </summary>
    public static unsafe DirectoryHandle? OpenWithoutLinks(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var how = stackalloc ulong[3];
        how[0] = (ulong)(O_PATH | O_DIRECTORY | O_CLOEXEC);
        how[1] = 0;
        how[2] = ResolveNoSymlinks;
        var fd = (int)Native.Syscall(SysOpenat2, -100, path, (IntPtr)how, 3 * sizeof(ulong));
        return fd < 0 ? null : new DirectoryHandle(new SafeFileHandle(fd, ownsHandle: true), path);
    }

    /// <summary>A subfolder, never through a link; null when <paramref name="name"/> is missing, a link or not a folder.</summary>
    public DirectoryHandle? OpenChild(string name)
    {
        var fd = Native.OpenAt(Descriptor, name, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
        if (!fd.IsInvalid)
        {
            return new DirectoryHandle(fd, System.IO.Path.Combine(Path, name));
        }

        var errno = Marshal.GetLastPInvokeError();
        fd.Dispose();
        if (errno == EACCES && !Environment.IsPrivilegedProcess && Unlock(name))
        {
            return OpenChild(name); // a folder the build (our own user) locked; root needs no unlocking
        }

        return errno is ENOENT or ENOTDIR or ELOOP or EACCES ? null : throw Error($"cannot open '{System.IO.Path.Combine(Path, name)}'", errno);
    }

    /// <summary>Makes a subfolder with <paramref name="mode"/> (an existing one is an error: callers make fresh folders).</summary>
    public string CreateChild(string name, UnixFileMode mode)
    {
        if (Native.MkdirAt(Descriptor, name, (uint)mode) != 0)
        {
            throw Error($"cannot create '{System.IO.Path.Combine(Path, name)}'", Marshal.GetLastPInvokeError());
        }

        return System.IO.Path.Combine(Path, name);
    }

    /// <summary>Owner, mode (07777) and kind of the directory itself.</summary>
    public unsafe (uint Uid, uint Gid, int Mode) Status()
    {
        var buffer = stackalloc byte[NativeMethods.StatxBufferSize];
        if (Native.Statx(Descriptor, "", AT_EMPTY_PATH, STATX_BASIC, buffer) != 0)
        {
            throw Error($"cannot stat '{Path}'", Marshal.GetLastPInvokeError());
        }

        return (*(uint*)(buffer + NativeMethods.StatxUidOffset), *(uint*)(buffer + NativeMethods.StatxGidOffset), *(ushort*)(buffer + NativeMethods.StatxModeOffset) & 0xFFF);
    }

    /// <summary>fchmod: the directory itself, whatever has become of its path.</summary>
    public void SetMode(UnixFileMode mode)
    {
        if (Native.Fchmod(Descriptor, (uint)mode) != 0)
        {
            throw Error($"cannot change the mode of '{Path}'", Marshal.GetLastPInvokeError());
        }
    }

    /// <summary>Deletes the entry <paramref name="name"/> and, if it is a folder, everything below it; a link is unlinked, never followed. A missing entry is fine.</summary>
    public void DeleteChild(string name)
    {
        for (var attempt = 0; ; attempt++)
        {
            if (Native.UnlinkAt(Descriptor, name, 0) == 0)
            {
                return;
            }

            var errno = Marshal.GetLastPInvokeError();
            if (errno == ENOENT)
            {
                return;
            }

            if (errno != EISDIR)
            {
                throw Error($"cannot delete '{System.IO.Path.Combine(Path, name)}'", errno);
            }

            // A folder (unless swapped for a link since, when the next round unlinks the link).
            using (var child = OpenChild(name))
            {
                child?.Empty(child, 1);
            }

            if (Native.UnlinkAt(Descriptor, name, AT_REMOVEDIR) == 0)
            {
                return;
            }

            errno = Marshal.GetLastPInvokeError();
            if (errno == ENOENT)
            {
                return;
            }

            if (errno is not (ENOTDIR or ENOTEMPTY) || attempt == 10)
            {
                throw Error($"cannot delete '{System.IO.Path.Combine(Path, name)}'", errno);
            }
        }
    }

    /// <summary>Bytes in the regular files of this tree (apparent sizes); links are neither followed nor counted. Null when the tree is deeper than <see cref="MaxDepth"/> or has more folders open than the process may.</summary>
    public unsafe long? MeasureFiles()
    {
        long total = 0;
        var buffer = stackalloc byte[NativeMethods.StatxBufferSize];
        var open = new Stack<(DirectoryHandle Folder, IntPtr Stream)>();
        try
        {
            open.Push((this, Native.FdOpenDir(Native.Dup(Descriptor))));
            while (open.TryPeek(out var top))
            {
                if (top.Stream == IntPtr.Zero || Next(top.Stream) is not { Name: { } name })
                {
                    Close(open.Pop());
                    continue;
                }

                if (Native.Statx(top.Folder.Descriptor, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC, buffer) != 0)
                {
                    continue; // gone meanwhile
                }

                var kind = *(ushort*)(buffer + NativeMethods.StatxModeOffset) & 0xF000;
                if (kind == 0x8000)
                {
                    total += *(long*)(buffer + StatxSizeOffset);
                }
                else if (kind == 0x4000)
                {
                    if (open.Count >= MaxDepth)
                    {
                        return null;
                    }

                    if (top.Folder.OpenChild(name) is { } child)
                    {
                        var stream = Native.FdOpenDir(Native.Dup(child.Descriptor));
                        open.Push((child, stream));
                        if (stream == IntPtr.Zero)
                        {
                            return null; // no descriptor left
                        }
                    }
                }
            }

            return total;
        }
        finally
        {
            while (open.TryPop(out var left))
            {
                Close(left);
            }
        }

        void Close((DirectoryHandle Folder, IntPtr Stream) entry)
        {
            if (entry.Stream != IntPtr.Zero)
            {
                _ = Native.CloseDir(entry.Stream);
            }

            if (entry.Folder != this)
            {
                entry.Folder.Dispose();
            }
        }
    }

    /// <summary>This process's effective uid (geteuid).</summary>
    public static uint EffectiveUid => Native.Geteuid();

    public void Dispose() => _fd.Dispose();

    /// <summary>
    /// Deletes everything in this folder. Folders deeper than <see cref="MaxDepth"/> below <paramref name="top"/> are moved
    /// up into it first (a rename between descriptors), so no more than that many descriptors are ever open.
    /// </summary>
    private void Empty(DirectoryHandle top, int depth)
    {
        var stream = Native.FdOpenDir(Native.Dup(Descriptor));
        if (stream == IntPtr.Zero)
        {
            throw Error($"cannot read '{Path}'", Marshal.GetLastPInvokeError());
        }

        try
        {
            // Passes until one finds nothing left: entries created or moved in during a pass are caught by the next. A
            // process still writing here (a build's leftover) cannot hold the delete for ever.
            for (var (found, pass) = (true, 0); found; pass++)
            {
                if (pass == MaxPasses)
                {
                    throw new IOException($"cannot delete '{Path}': something is still writing into it");
                }

                found = false;
                Native.RewindDir(stream);
                while (Next(stream) is (string name, var type))
                {
                    found = true;
                    if (type is DT_DIR or DT_UNKNOWN && depth >= MaxDepth / 2 && this != top)
                    {
                        if (Native.RenameAt(Descriptor, name, top.Descriptor, ".deep-" + Guid.NewGuid().ToString("N")) == 0)
                        {
                            continue;
                        }
                    }

                    if (type is DT_DIR or DT_UNKNOWN && OpenChild(name) is { } child)
                    {
                        using (child)
                        {
                            child.Empty(top, depth + 1);
                        }

                        if (Native.UnlinkAt(Descriptor, name, AT_REMOVEDIR) == 0)
                        {
                            continue;
                        }
                    }

                    if (Native.UnlinkAt(Descriptor, name, 0) != 0 && Marshal.GetLastPInvokeError() is var errno && errno is not (ENOENT or EISDIR))
                    {
                        throw Error($"cannot delete '{System.IO.Path.Combine(Path, name)}'", errno);
                    }
                }
            }
        }
        finally
        {
            _ = Native.CloseDir(stream);
        }
    }

    /// <summary>The next entry's name and d_type (a hint: statx says what it is), skipping . and ..; null at the end.</summary>
    private static unsafe (string? Name, byte Type)? Next(IntPtr stream)
    {
        while (true)
        {
            var entry = (byte*)Native.ReadDir(stream);
            if (entry is null)
            {
                return null;
            }

            // struct dirent on 64-bit Linux (glibc and musl): d_ino 8, d_off 8, d_reclen 2, d_type 1, d_name.
            var name = Marshal.PtrToStringUTF8((IntPtr)(entry + 19));
            if (name is not ("." or ".." or null))
            {
                return (name, entry[18]);
            }
        }
    }

    /// <summary>chmod u+rwx of a folder of our own the build locked, through an O_PATH descriptor of the entry itself (never a link's target).</summary>
    private unsafe bool Unlock(string name)
    {
        using var fd = Native.OpenAt(Descriptor, name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
        var buffer = stackalloc byte[NativeMethods.StatxBufferSize];
        if (fd.IsInvalid || Native.Statx((int)fd.DangerousGetHandle(), "", AT_EMPTY_PATH, STATX_BASIC, buffer) != 0
            || (*(ushort*)(buffer + NativeMethods.StatxModeOffset) & 0xF000) != 0x4000)
        {
            return false;
        }

        var mode = (*(ushort*)(buffer + NativeMethods.StatxModeOffset) & 0xFFF) | 0x1C0;
        return Native.Chmod($"/proc/self/fd/{(int)fd.DangerousGetHandle()}", (uint)mode) == 0;
    }

    private static IOException Error(string what, int errno, SafeFileHandle? failed = null)
    {
        failed?.Dispose();
        return new IOException($"{what}: {Marshal.GetPInvokeErrorMessage(errno)}");
    }

    private static partial class Native
    {
        [LibraryImport("libc", EntryPoint = "openat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial SafeFileHandle OpenAt(int dirfd, string path, int flags, uint mode);

        [LibraryImport("libc", EntryPoint = "mkdirat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int MkdirAt(int dirfd, string path, uint mode);

        [LibraryImport("libc", EntryPoint = "unlinkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int UnlinkAt(int dirfd, string path, int flags);

        [LibraryImport("libc", EntryPoint = "renameat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int RenameAt(int olddirfd, string oldpath, int newdirfd, string newpath);

        [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static unsafe partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);

        [LibraryImport("libc", EntryPoint = "fchmod", SetLastError = true)]
        public static partial int Fchmod(int fd, uint mode);

        [LibraryImport("libc", EntryPoint = "chmod", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int Chmod(string path, uint mode);

        /// <summary>syscall(2) for openat2, which older C libraries have no wrapper for.</summary>
        [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial long Syscall(long number, int dirfd, string path, IntPtr how, nuint size);

        [LibraryImport("libc", EntryPoint = "geteuid")]
        public static partial uint Geteuid();

        [LibraryImport("libc", EntryPoint = "dup", SetLastError = true)]
        public static partial int Dup(int fd);

        /// <summary>fdopendir: the stream owns the (duplicated) descriptor; closedir closes it.</summary>
        [LibraryImport("libc", EntryPoint = "fdopendir", SetLastError = true)]
        public static partial IntPtr FdOpenDir(int fd);

        [LibraryImport("libc", EntryPoint = "readdir", SetLastError = true)]
        public static partial IntPtr ReadDir(IntPtr dir);

        [LibraryImport("libc", EntryPoint = "rewinddir")]
        public static partial void RewindDir(IntPtr dir);

        [LibraryImport("libc", EntryPoint = "closedir", SetLastError = true)]
        public static partial int CloseDir(IntPtr dir);
    }
}
