using AutoBuilder.Core.Execution;
using AutoBuilder.Runner.Caching;
using AutoBuilder.Server.Hosting;

namespace AutoBuilder.Server.Executors.Local;

/// <summary>The throw-away folder of one local build attempt, on local scratch disk: {WorkspaceRoot}/{buildId}-{attempt}.</summary>
internal static class LocalWorkspace
{
    public static string PathOf(ServerPaths paths, BuildLaunch launch) =>
        Path.Combine(paths.WorkspaceRoot, $"{launch.BuildId}-{launch.Attempt}");

    /// <summary>A fresh, empty workspace (an earlier process's leftovers are removed) that other local users cannot read.</summary>
    public static string Create(ServerPaths paths, BuildLaunch launch)
    {
        var workspace = PathOf(paths, launch);
        DeleteQuietly(workspace);
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(workspace);
        }
        else
        {
            Directory.CreateDirectory(workspace, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        return workspace;
    }

    public static void DeleteQuietly(string directory)
    {
        try
        {
            if (Directory.Exists(directory))
            {
                // A killed runner may have left an exact hit's cache layers mounted in it.
                CacheLayers.UnmountUnder(directory);
                Directory.Delete(directory, recursive: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A workspace that cannot be removed now is left for the operator; it never fails a build.
        }
    }
}
