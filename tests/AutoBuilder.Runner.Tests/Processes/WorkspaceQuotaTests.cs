using AutoBuilder.Runner.Processes;

namespace AutoBuilder.Runner.Tests.Processes;

public sealed class WorkspaceQuotaTests : IDisposable
{
    private const long Limit = 1024 * 1024;
    private readonly TempDirectory _workspace = new();
    private readonly TempDirectory _outside = new();

    public void Dispose()
    {
        _workspace.Dispose();
        _outside.Dispose();
    }

    [Fact]
    public void Measure_SumsFilesInSubfoldersButFollowsNoSymlink()
    {
        File.WriteAllBytes(_workspace.Combine("a.bin"), new byte[1000]);
        _workspace.Write("sub/deeper/b.txt", new string('b', 2000));
        File.WriteAllBytes(_outside.Combine("big.bin"), new byte[500_000]);
        File.CreateSymbolicLink(_workspace.Combine("link-to-file"), _outside.Combine("big.bin"));
        Directory.CreateSymbolicLink(_workspace.Combine("link-to-folder"), _outside.Path);

        Assert.Equal(3000, WorkspaceQuota.Measure(_workspace.Path));
    }

    [Fact]
    public void Measure_FolderTheBuildLocked_IsCounted_AndRootLeavesItLocked()
    {
        _workspace.Write("hidden/inner/c.txt", new string('c', 5000));
        File.SetUnixFileMode(_workspace.Combine("hidden"), UnixFileMode.None);

        Assert.Equal(5000, WorkspaceQuota.Measure(_workspace.Path));
        if (Environment.IsPrivilegedProcess)
        {
            // Root reads it through descriptors; it never changes the build's tree to measure it.
            Assert.Equal(UnixFileMode.None, File.GetUnixFileMode(_workspace.Combine("hidden")));
        }

        File.SetUnixFileMode(_workspace.Combine("hidden"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    [Fact]
    public void Measure_ALinkToTheRootFolder_IsNotFollowedNorCounted()
    {
        _workspace.Write("src/a.txt", new string('a', 700));
        Directory.CreateSymbolicLink(_workspace.Combine("src", "root"), "/");
        Directory.CreateSymbolicLink(_workspace.Combine("home"), "/etc");

        Assert.Equal(700, WorkspaceQuota.Measure(_workspace.Path));
    }

    /// <summary>
    /// The build swaps a folder for a link to a large tree outside while the quota walks: a walk by path (the folder was
    /// a folder when listed, a link when opened) counts what the link points at; a walk from descriptors never does.
    /// </summary>
    [Fact]
    public async Task Measure_WhileTheBuildSwapsAFolderForALink_NeverCountsWhatTheLinkPointsAt()
    {
        const int outsideBytes = 4_000_000;
        File.WriteAllBytes(_outside.Combine("big.bin"), new byte[outsideBytes]);
        _workspace.Write("d/small.txt", "small");
        Directory.CreateSymbolicLink(_workspace.Combine("link"), _outside.Path);
        using var stop = new CancellationTokenSource();
        var swapper = Task.Run(() =>
        {
            // renameat2 RENAME_EXCHANGE: `d` is the folder half the time and the link the other half.
            while (!stop.IsCancellationRequested)
            {
                Assert.Equal(0, RenameAt2(-100, _workspace.Combine("d"), -100, _workspace.Combine("link"), 2));
            }
        });

        var largest = 0L;
        try
        {
            for (var i = 0; i < 20_000 && largest < outsideBytes; i++)
            {
                largest = Math.Max(largest, WorkspaceQuota.Measure(_workspace.Path));
            }
        }
        finally
        {
            await stop.CancelAsync();
            await swapper;
        }

        Assert.True(largest < outsideBytes, $"a scan counted {largest} bytes: it followed the link");
    }

    [Fact]
    public async Task RunAsync_CommandWritingPastTheLimit_IsStoppedAndFailsNamingTheLimit()
    {
        var stopped = CancellationToken.None;
        var quota = new WorkspaceQuota(_workspace.Path, Limit);

        var error = await Assert.ThrowsAsync<BuildFailureException>(() => quota.RunAsync(token =>
        {
            stopped = token;
            return Run("head -c 3000000 /dev/zero > big.bin; echo written; sleep 600", token);
        }, CancellationToken.None));

        Assert.Equal("the build's workspace (source, HOME, TMPDIR) grew past 1 MB (Builds:MaxWorkspaceBytes)", error.Message);
        Assert.True(stopped.IsCancellationRequested); // stopped by the quota, not by the command's timeout.
    }

    [Fact]
    public async Task RunAsync_CommandEndingOverTheLimit_FailsOnTheLastLook()
    {
        var quota = new WorkspaceQuota(_workspace.Path, Limit);

        var error = await Assert.ThrowsAsync<BuildFailureException>(() => quota.RunAsync(async token =>
        {
            await File.WriteAllBytesAsync(_workspace.Combine("tmp.bin"), new byte[Limit + 1], token);
            return 0;
        }, CancellationToken.None));

        Assert.Contains("Builds:MaxWorkspaceBytes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_UnderTheLimit_ReturnsTheCommandsResult()
    {
        var quota = new WorkspaceQuota(_workspace.Path, Limit);

        var result = await quota.RunAsync(token => Run("head -c 1000000 /dev/zero > big.bin", token), CancellationToken.None);

        Assert.Equal(0, result.ExitCode);
    }

    [Fact]
    public async Task RunAsync_CancelledByTheCaller_IsACancellationNotAQuotaFailure()
    {
        var quota = new WorkspaceQuota(_workspace.Path, Limit);
        using var cancel = new CancellationTokenSource();

        var run = quota.RunAsync(token => Run("echo started; sleep 600", token), cancel.Token);
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "renameat2", SetLastError = true)]
    private static extern int RenameAt2(int oldDirectory, [System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string oldPath,
        int newDirectory, [System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string newPath, uint flags);

    private Task<BuildProcessResult> Run(string command, CancellationToken token) =>
        new BuildProcess().RunAsync(
            new BuildProcessRequest
            {
                Command = command,
                WorkingDirectory = _workspace.Path,
                Environment = new Dictionary<string, string> { ["PATH"] = "/usr/bin:/bin" },
                Timeout = TimeSpan.FromMinutes(10),
            },
            (_, _) => ValueTask.CompletedTask,
            token);
}
