using System.Globalization;
using AutoBuilder.Runner.Processes;
using AutoBuilder.Runner.Publishing;

namespace AutoBuilder.Server.Hosting;

/// <summary>The folders of one server, all resolved once from the data folder.</summary>
public sealed class ServerPaths
{
    public ServerPaths(string dataDirectory, string? cacheDirectory = null, string? workspaceRoot = null)
    {
        DataDirectory = Path.GetFullPath(dataDirectory);
        BlobRoot = Path.Combine(DataDirectory, "blobs");
        TempDirectory = Path.Combine(DataDirectory, "tmp");
        CacheDirectory = Path.GetFullPath(cacheDirectory ?? Path.Combine(DataDirectory, "cache"));
        WorkspaceRoot = Path.GetFullPath(string.IsNullOrWhiteSpace(workspaceRoot) ? Path.Combine(DataDirectory, "workspaces") : workspaceRoot);
    }

    public string DataDirectory { get; }

    /// <summary>{data}/blobs/{container}/{path}: the filesystem blob store.</summary>
    public string BlobRoot { get; }

    /// <summary>Uploads are spooled here (same filesystem as the blobs, so they are moved, not copied).</summary>
    public string TempDirectory { get; }

    public string CacheDirectory { get; }

    /// <summary>Executor:WorkspaceRoot, default {data}/workspaces: the server's own folder, 0711 (see <see cref="EnsureWorkspaceRoot"/>).</summary>
    public string WorkspaceRoot { get; }

    public void EnsureCreated()
    {
        const UnixFileMode ownerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        // The data folder holds admin.key, signing.key, the database and every user's blobs: nobody else may list it.
        // Others may pass through it (0711), to the dependency cache only: the build user reaches {data}/cache that way.
        CreateNew(DataDirectory, ownerOnly | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        CreateNew(BlobRoot, ownerOnly);
        CreateNew(TempDirectory, ownerOnly);
        Directory.CreateDirectory(CacheDirectory);
        EnsureWorkspaceRoot();
    }

    /// <summary>
    /// The workspace root is made by the server, 0711: the build user may pass to its own workspace, nobody else may list
    /// or write it. An existing one must be the server's (or root's) and no more open than that, and so must every
    /// folder above it be unwritable by others (or sticky, like /tmp): whoever could rename or replace it could swap a
    /// workspace for a link into the server's files (issue 18, finding 2). Refused with one line otherwise.
    /// </summary>
    private void EnsureWorkspaceRoot()
    {
        const UnixFileMode passOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
        if (!OperatingSystem.IsLinux())
        {
            Directory.CreateDirectory(WorkspaceRoot);
            return;
        }

        for (var above = Path.GetDirectoryName(WorkspaceRoot); above is not null; above = Path.GetDirectoryName(above))
        {
            if (FileKinds.Stat(above) is { } status && (!Trusted(status.Uid) || ((status.Permissions & 0x12) != 0 && (status.Permissions & 0x200) == 0)))
            {
                throw Refused(above, status, "a folder above it");
            }
        }

        if (!Directory.Exists(WorkspaceRoot) && new FileInfo(WorkspaceRoot).LinkTarget is null)
        {
            Directory.CreateDirectory(WorkspaceRoot, passOnly);
        }

        var root = new FileInfo(WorkspaceRoot).LinkTarget is null ? FileKinds.Stat(WorkspaceRoot) : null;
        if (root is not { Kind: FileKind.Directory } || !Trusted(root.Uid) || (root.Permissions & ~(int)passOnly) != 0)
        {
            throw Refused(WorkspaceRoot, root is { Kind: FileKind.Directory } ? root : null, "it");
        }
    }

    private static bool Trusted(uint uid) => uid == 0 || uid == CurrentUid;

    private static uint CurrentUid => OperatingSystem.IsLinux() ? DirectoryHandle.EffectiveUid : 0;

    private InvalidOperationException Refused(string folder, FileStatus? status, string which) => new(status is null
        ? $"Executor:WorkspaceRoot '{WorkspaceRoot}' must be a folder of the server's own, not a link or another kind of file; remove it and the server makes it"
        : string.Create(CultureInfo.InvariantCulture,
            $"Executor:WorkspaceRoot '{WorkspaceRoot}' is refused: {which} ('{folder}') belongs to uid {status.Uid} with mode {Convert.ToString(status.Permissions, 8).PadLeft(4, '0')}; it must belong to the server (uid {CurrentUid}) or root, and others must not write it{(which == "it" ? " or list it (0711 at most)" : "")}. Remove it (the server makes it) or choose another folder"));

    /// <summary>Creates a folder with the mode given; an existing folder keeps the mode its operator gave it.</summary>
    private static void CreateNew(string folder, UnixFileMode mode)
    {
        if (Directory.Exists(folder))
        {
            return;
        }

        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(folder);
        }
        else
        {
            Directory.CreateDirectory(folder, mode);
        }
    }
}
