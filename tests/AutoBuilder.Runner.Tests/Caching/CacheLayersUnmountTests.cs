using System.Diagnostics;
using AutoBuilder.Runner.Caching;
using AutoBuilder.Runner.Processes;

namespace AutoBuilder.Runner.Tests.Caching;

/// <summary>
/// Unmounting an exact hit's layers, which root does in folders the build owns: a folder swapped for a link must not aim
/// the unmount at a mount elsewhere (another build's layers). A tmpfs stands in for the overlay.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CacheLayersUnmountTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose()
    {
        // Wherever the test moved them.
        var prefix = _temp.Path + "/";
        foreach (var mount in File.ReadLines("/proc/self/mountinfo").Select(line => line.Split(' ')[4]).Where(point => point.StartsWith(prefix, StringComparison.Ordinal)).Reverse().ToList())
        {
            Run("umount", "-l", mount);
        }

        _temp.Dispose();
    }

    [Fact]
    public void Unmount_APathThroughALinkTheBuildPlanted_LeavesTheMountItPointsAtAlone()
    {
        Assert.True(Environment.IsPrivilegedProcess, "these tests run as root, like the server on the test machines");
        var other = Mount(_temp.Combine("other-build", "cache", "maven", "repository"));
        var ours = Mount(_temp.Combine("workspace", "cache", "maven", "repository"));
        // The build moves its folder away and plants a link where it was.
        Directory.Move(_temp.Combine("workspace", "cache", "maven"), _temp.Combine("workspace", "cache", "moved"));
        Directory.CreateSymbolicLink(_temp.Combine("workspace", "cache", "maven"), _temp.Combine("other-build", "cache", "maven"));

        CacheLayers.Unmount([ours]);

        Assert.True(IsMounted(other), "the other build's mount was detached through the planted link");

        // The workspace's delete still finds our mount where it went, through descriptors.
        using (var workspace = DirectoryHandle.Open(_temp.Combine("workspace")))
        {
            CacheLayers.UnmountUnder(workspace);
        }

        Assert.False(IsMounted(_temp.Combine("workspace", "cache", "moved", "repository")));
        Assert.True(IsMounted(other));
    }

    [Fact]
    public void Unmount_APlainPath_DetachesIt()
    {
        var ours = Mount(_temp.Combine("workspace", "cache", "maven", "repository"));

        CacheLayers.Unmount([ours]);

        Assert.False(IsMounted(ours));
    }

    private string Mount(string path)
    {
        Directory.CreateDirectory(path);
        Run("mount", "-t", "tmpfs", "tmpfs", path);
        Assert.True(IsMounted(path));
        return path;
    }

    private static bool IsMounted(string path) =>
        File.ReadLines("/proc/self/mountinfo").Any(line => line.Split(' ') is { Length: > 4 } fields && fields[4] == path);

    private static void Run(string program, params string[] arguments)
    {
        using var process = Process.Start(program, arguments);
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
    }
}
