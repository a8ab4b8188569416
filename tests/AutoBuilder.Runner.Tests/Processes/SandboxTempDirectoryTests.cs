using AutoBuilder.Runner.Processes;

namespace AutoBuilder.Runner.Tests.Processes;

/// <summary>The sandbox's /tmp and /var/tmp are the workspace's tmp folder: on disk, counted by the workspace quota.</summary>
public sealed class SandboxTempDirectoryTests : IDisposable
{
    private readonly TempDirectory _workspace = new();

    public void Dispose() => _workspace.Dispose();

    [Fact]
    public async Task RunAsync_WithATempDirectory_WritesToTmpAndVarTmpLandInIt()
    {
        var source = _workspace.Combine("src");
        var temp = _workspace.Combine("tmp");
        Directory.CreateDirectory(source);
        Directory.CreateDirectory(temp);
        var bwrap = Sandbox.Find() ?? throw new InvalidOperationException("bwrap is not installed (apt-get install bubblewrap)");
        var marker = "tmp-" + Guid.NewGuid().ToString("N");

        var result = await new BuildProcess().RunAsync(
            new BuildProcessRequest
            {
                Command = $"echo a > /tmp/{marker}-a && echo b > /var/tmp/{marker}-b",
                WorkingDirectory = source,
                Environment = new Dictionary<string, string> { ["PATH"] = "/usr/bin:/bin" },
                Timeout = TimeSpan.FromMinutes(5),
                Sandbox = [bwrap, .. Sandbox.Arguments(new SandboxRequest([source, temp], source, Network: false, TempDirectory: temp))],
                SandboxStatusFile = _workspace.Combine("status.json"),
            },
            (_, _) => ValueTask.CompletedTask);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("a\n", await File.ReadAllTextAsync(Path.Combine(temp, $"{marker}-a")));
        Assert.Equal("b\n", await File.ReadAllTextAsync(Path.Combine(temp, $"{marker}-b")));
        Assert.False(File.Exists($"/tmp/{marker}-a"));
        Assert.True(WorkspaceQuota.Measure(_workspace.Path) >= 4);
    }
}
