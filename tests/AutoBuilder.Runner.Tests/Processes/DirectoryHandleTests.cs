using AutoBuilder.Runner.Processes;

namespace AutoBuilder.Runner.Tests.Processes;

/// <summary>What root does in a tree the build controls: from descriptors, never following a link (issue 18).</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class DirectoryHandleTests : IDisposable
{
    private const UnixFileMode OwnerReadWrite = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private readonly TempDirectory _temp = new();

    public void Dispose()
    {
        foreach (var folder in Directory.EnumerateDirectories(_temp.Path, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint }))
        {
            File.SetUnixFileMode(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        _temp.Dispose();
    }

    [Fact]
    public void DeleteChild_ATreeWithLinksOutOfIt_DeletesTheLinks_NeverWhatTheyPointAt()
    {
        var secret = _temp.Write("outside/home/secret.key", "root only");
        File.SetUnixFileMode(secret, OwnerReadWrite);
        _temp.Write("workspace/src/a.txt", "a");
        _temp.Write("workspace/locked/inner/b.txt", "b");
        File.SetUnixFileMode(_temp.Combine("workspace", "locked"), UnixFileMode.None);
        Directory.CreateSymbolicLink(_temp.Combine("workspace", "src", "x"), _temp.Combine("outside"));
        File.CreateSymbolicLink(_temp.Combine("workspace", "src", "key"), secret);
        Directory.CreateSymbolicLink(_temp.Combine("workspace", "home"), _temp.Combine("outside", "home"));

        using (var root = DirectoryHandle.Open(_temp.Path))
        {
            root.DeleteChild("workspace");
        }

        Assert.False(Path.Exists(_temp.Combine("workspace")));
        Assert.Equal("root only", File.ReadAllText(secret));
        Assert.Equal(OwnerReadWrite, File.GetUnixFileMode(secret));
    }

    [Fact]
    public void DeleteChild_AnEntryThatIsALinkToAFolder_UnlinksTheLinkOnly()
    {
        _temp.Write("target/src/keep.txt", "kept");
        Directory.CreateSymbolicLink(_temp.Combine("workspace"), _temp.Combine("target"));

        using (var root = DirectoryHandle.Open(_temp.Path))
        {
            root.DeleteChild("workspace");
            Assert.Null(root.OpenChild("target-link-that-does-not-exist"));
        }

        Assert.False(Path.Exists(_temp.Combine("workspace")));
        Assert.Equal("kept", File.ReadAllText(_temp.Combine("target", "src", "keep.txt")));
    }

    [Fact]
    public void Open_ALink_IsRefused_AndOpenChild_DoesNotFollowOne()
    {
        Directory.CreateDirectory(_temp.Combine("target"));
        Directory.CreateSymbolicLink(_temp.Combine("link"), _temp.Combine("target"));

        Assert.Throws<IOException>(() => DirectoryHandle.Open(_temp.Combine("link")));
        using var root = DirectoryHandle.Open(_temp.Path);
        Assert.Null(root.OpenChild("link"));
        using var target = root.OpenChild("target");
        Assert.NotNull(target);
    }

    [Fact]
    public void DeleteChild_ATreeDeeperThanPathMax_IsDeletedWhole()
    {
        // 3,000 levels: far past PATH_MAX, and past the depth at which folders are moved up to bound open descriptors.
        using (var root = DirectoryHandle.Open(_temp.Path))
        {
            root.CreateChild("deep", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var folder = root.OpenChild("deep")!;
            for (var i = 0; i < 3000; i++)
            {
                folder.CreateChild("d", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                var next = folder.OpenChild("d")!;
                folder.Dispose();
                folder = next;
            }

            folder.Dispose();
            root.DeleteChild("deep");
        }

        Assert.False(Path.Exists(_temp.Combine("deep")));
    }
}
