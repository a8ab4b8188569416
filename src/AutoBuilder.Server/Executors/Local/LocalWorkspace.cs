using AutoBuilder.Core.Execution;
using AutoBuilder.Runner.Caching;
using AutoBuilder.Runner.Processes;
using AutoBuilder.Server.Hosting;

namespace AutoBuilder.Server.Executors.Local;

/// <summary>
/// The throw-away folder of one local build attempt, on local scratch disk: {WorkspaceRoot}/{buildId}-{attempt}. Made and
/// deleted through a descriptor of the workspace root (the server's own folder, checked at start by
/// <see cref="ServerPaths.EnsureCreated"/>): whatever is at that name — a leftover tree, a link someone planted — is
/// removed as an entry, never followed.
/// </summary>
internal static class LocalWorkspace
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    public static string PathOf(ServerPaths paths, BuildLaunch launch) =>
        Path.Combine(paths.WorkspaceRoot, NameOf(launch));

    /// <summary>A fresh, empty workspace (0700; an earlier process's leftovers are removed) that other local users cannot read.</summary>
    public static string Create(ServerPaths paths, BuildLaunch launch)
    {
        if (!OperatingSystem.IsLinux())
        {
            var workspace = PathOf(paths, launch);
            Directory.CreateDirectory(workspace);
            return workspace;
        }

        using var root = DirectoryHandle.Open(paths.WorkspaceRoot);
        Delete(root, NameOf(launch));
        return root.CreateChild(NameOf(launch), OwnerOnly);
    }

    /// <summary>Deletes a workspace after its attempt (also one a killed runner left); a failure is left for the operator.</summary>
    public static void DeleteQuietly(string workspace)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        try
        {
            using var root = DirectoryHandle.Open(Path.GetDirectoryName(workspace)!);
            Delete(root, Path.GetFileName(workspace));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A workspace that cannot be removed now is left for the operator; it never fails a build.
        }
    }

    private static void Delete(DirectoryHandle root, string name)
    {
        // A killed runner may have left an exact hit's cache layers mounted in it: deleting through an overlay would
        // only whiteout its upper layer, and the mount would stay.
        using (var workspace = root.OpenChild(name))
        {
            if (workspace is not null)
            {
                CacheLayers.UnmountUnder(workspace);
            }
        }

        root.DeleteChild(name);
    }

    private static string NameOf(BuildLaunch launch) => $"{launch.BuildId}-{launch.Attempt}";
}
