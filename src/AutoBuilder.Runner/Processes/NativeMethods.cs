using System.Runtime.InteropServices;

namespace AutoBuilder.Runner.Processes;

internal static partial class NativeMethods
{
    public const int SIGKILL = 9;
    public const int PR_SET_DUMPABLE = 4;
    public const int PR_GET_DUMPABLE = 3;
    public const int AT_FDCWD = -100;
    public const uint STATX_TYPE = 0x1;
    public const uint STATX_MODE = 0x2;
    public const uint STATX_UID = 0x8;
    public const uint STATX_GID = 0x10;
    public const int StatxUidOffset = 20;
    public const int StatxGidOffset = 24;
    public const int StatxBufferSize = 256;
    /// <summary>Offset of stx_mode (u16) in struct statx, the same on every architecture.</summary>
    public const int StatxModeOffset = 28;

    /// <summary>kill(2): a negative pid signals the whole process group.</summary>
    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);

    /// <summary>prctl(2); used with PR_SET_DUMPABLE 0 so same-uid processes cannot read our /proc/PID/mem or environ.</summary>
    [LibraryImport("libc", EntryPoint = "prctl", SetLastError = true)]
    public static partial int Prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    /// <summary>lchown(2): changes a path's owner without following a final symlink.</summary>
    [LibraryImport("libc", EntryPoint = "lchown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Lchown(string path, uint owner, uint group);

    /// <summary>statx(2): its buffer layout is fixed across architectures, unlike struct stat.</summary>
    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static unsafe partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    /// <summary>mount(2): the cache layers' overlay mounts (root only).</summary>
    [LibraryImport("libc", EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Mount(string source, string target, string fileSystemType, nuint flags, string data);

    /// <summary>umount2(2); MNT_DETACH (2) detaches at once and frees the mount when its last user leaves.</summary>
    [LibraryImport("libc", EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Umount2(string target, int flags);
}
