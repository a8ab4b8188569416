using AutoBuilder.Runner.Processes;

namespace AutoBuilder.Runner.Publishing;

/// <summary>What a path is (S_IFMT of statx; <see cref="FileKinds.Stat"/> follows symlinks, a listing of the build's tree does not).</summary>
public enum FileKind
{
    Missing,
    Regular,
    Directory,
    SymbolicLink,
    Fifo,
    Socket,
    CharacterDevice,
    BlockDevice,
    Other,
}

/// <summary>A path's kind, permission bits (07777) and owner.</summary>
public sealed record FileStatus(FileKind Kind, int Permissions, uint Uid, uint Gid);

/// <summary>
/// Tells a path's kind without opening it. .NET's file APIs cannot: they open first, and opening a FIFO for reading
/// blocks until a writer comes, which is how a build once held its runner (and its slot) past every timeout.
/// </summary>
public static class FileKinds
{
    public static FileKind Of(string path) => Stat(path)?.Kind ?? FileKind.Missing;

    /// <summary>Kind, permission bits and owner of a path (symlinks followed), or null when it cannot be read.</summary>
    public static unsafe FileStatus? Stat(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!OperatingSystem.IsLinux())
        {
            var kind = File.Exists(path) ? FileKind.Regular : Directory.Exists(path) ? FileKind.Directory : FileKind.Missing;
            return kind == FileKind.Missing ? null : new FileStatus(kind, 0, 0, 0);
        }

        var buffer = stackalloc byte[NativeMethods.StatxBufferSize];
        if (NativeMethods.Statx(NativeMethods.AT_FDCWD, path, 0, NativeMethods.STATX_TYPE | NativeMethods.STATX_MODE | NativeMethods.STATX_UID | NativeMethods.STATX_GID, buffer) != 0)
        {
            return null;
        }

        var mode = *(ushort*)(buffer + NativeMethods.StatxModeOffset);
        var uid = *(uint*)(buffer + NativeMethods.StatxUidOffset);
        var gid = *(uint*)(buffer + NativeMethods.StatxGidOffset);
        return new FileStatus(KindOf(mode), mode & 0xFFF, uid, gid);
    }

    private static FileKind KindOf(int mode) => (mode & 0xF000) switch
    {
        0x8000 => FileKind.Regular,
        0x4000 => FileKind.Directory,
        0x1000 => FileKind.Fifo,
        0xC000 => FileKind.Socket,
        0x2000 => FileKind.CharacterDevice,
        0x6000 => FileKind.BlockDevice,
        _ => FileKind.Other,
    };

    /// <summary>How a log line names a kind that cannot be published.</summary>
    public static string Describe(FileKind kind) => kind switch
    {
        FileKind.SymbolicLink => "a symbolic link (links are never followed)",
        FileKind.Fifo => "a FIFO (named pipe)",
        FileKind.Socket => "a socket",
        FileKind.CharacterDevice => "a character device",
        FileKind.BlockDevice => "a block device",
        FileKind.Missing => "gone or unreadable",
        _ => "not a regular file",
    };
}
