using System.Globalization;
using AutoBuilder.Runner.Processes;

namespace AutoBuilder.Runner.Staging;

/// <summary>
/// One attempt's workspace, opened once as a descriptor: a directory of the runner's own, never a link. The build's
/// folders in it (src, home, tmp, the private cache) are made fresh through that descriptor, 0700, and given to the build
/// user at the end of staging; the workspace itself stays the runner's, 0711 (0700 without a build user), so no other
/// local user can list it or reach into the build's folders (issue 18, findings 2 and 3).
/// </summary>
public sealed class AttemptWorkspace : IDisposable
{
    /// <summary>The build's own folders, in the workspace.</summary>
    public static readonly string[] BuildFolders = ["src", "home", "tmp", "cache"];

    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private readonly DirectoryHandle? _handle;

    private AttemptWorkspace(string path, DirectoryHandle? handle)
    {
        Path = path;
        _handle = handle;
    }

    public string Path { get; }

    /// <summary>
    /// Opens (making it, 0700, when missing) the workspace the runner was given, and makes its build folders fresh.
    /// Refuses a link, something that is not a folder, and — when the runner is root — a folder another user owns or
    /// may write.
    /// </summary>
    /// <exception cref="IOException">The workspace cannot be used; the message names it.</exception>
    public static AttemptWorkspace Open(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        if (!OperatingSystem.IsLinux())
        {
            Directory.CreateDirectory(full);
            return new AttemptWorkspace(full, null);
        }

        if (!Directory.Exists(full) && new FileInfo(full).LinkTarget is null)
        {
            Directory.CreateDirectory(full, OwnerOnly);
        }

        var handle = DirectoryHandle.Open(full);
        try
        {
            var (uid, _, mode) = handle.Status();
            if (Environment.IsPrivilegedProcess && (uid != DirectoryHandle.EffectiveUid || (mode & 0x12) != 0))
            {
                throw new IOException(string.Create(CultureInfo.InvariantCulture,
                    $"the workspace '{full}' belongs to uid {uid} with mode {Convert.ToString(mode, 8)}: a root runner uses only a folder of its own that others cannot write"));
            }

            foreach (var folder in BuildFolders)
            {
                handle.DeleteChild(folder); // a reused workspace: start clean, without following what is there
                handle.CreateChild(folder, OwnerOnly);
            }

            return new AttemptWorkspace(full, handle);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    public string Folder(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>
    /// Lets the build user pass through the workspace (0711) to its folders, and gives it those (recursively; links are
    /// changed, never followed; <paramref name="skip"/>: mounted cache layers). Fails the build, naming the folder, when
    /// a folder above the workspace does not let the build user pass.
    /// </summary>
    public void HandOver(BuildUser user, IReadOnlyList<string> folders, IReadOnlyCollection<string>? skip)
    {
        ArgumentNullException.ThrowIfNull(folders);
        if (_handle is null)
        {
            return;
        }

        _handle.SetMode(OwnerOnly | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        if (BuildUserAccess.Blocking(Path, user) is { } blocked)
        {
            throw new BuildFailureException(string.Create(CultureInfo.InvariantCulture,
                $"the build user (uid {user.Uid}) cannot reach its workspace: '{blocked}' does not let other users pass. Give that folder search permission (chmod o+x) or move Executor:WorkspaceRoot"));
        }

        foreach (var folder in folders)
        {
            BuildUserAccess.GiveTo(folder, user, skip);
        }
    }

    public void Dispose() => _handle?.Dispose();
}
