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

    /// <summary>
    /// The build swaps a folder for a link to a root-owned folder while root deletes its workspace: a delete by path
    /// (the folder was a folder when listed, a link when entered) deletes what the link points at.
    /// </summary>
    [Fact]
    public async Task DeleteChild_WhileTheBuildSwapsAFolderForALink_DeletesNothingTheLinkPointsAt()
    {
        var secret = _temp.Write("outside/secret.key", "root only");
        for (var round = 0; round < 300 && File.Exists(secret); round++)
        {
            for (var i = 0; i < 20; i++)
            {
                _temp.Write($"workspace/src/d/file{i}.txt", "build's");
            }

            Directory.CreateSymbolicLink(_temp.Combine("workspace", "src", "link"), _temp.Combine("outside"));
            using var stop = new CancellationTokenSource();
            var d = _temp.Combine("workspace", "src", "d");
            var link = _temp.Combine("workspace", "src", "link");
            // renameat2 RENAME_EXCHANGE until the delete has removed one of them.
            var swapper = Task.Run(() =>
            {
                while (!stop.IsCancellationRequested && RenameAt2(-100, d, -100, link, 2) == 0)
                {
                }
            });

            using (var root = DirectoryHandle.Open(_temp.Path))
            {
                root.DeleteChild("workspace");
            }

            await stop.CancelAsync();
            await swapper;
            Assert.False(Path.Exists(_temp.Combine("workspace")));
        }

        Assert.True(File.Exists(secret), "the delete followed the link and removed the root-owned file");
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "renameat2", SetLastError = true)]
    private static extern int RenameAt2(int oldDirectory, [System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string oldPath,
        int newDirectory, [System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string newPath, uint flags);

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
