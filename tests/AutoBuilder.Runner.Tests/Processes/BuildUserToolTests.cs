using System.Formats.Tar;
using AutoBuilder.Runner.Processes;

namespace AutoBuilder.Runner.Tests.Processes;

/// <summary>A system tool run over the build's tree as the build user, its stdout read as data (bwrap: scripts/test.sh installs it).</summary>
public sealed class BuildUserToolTests : IDisposable
{
    private static readonly BuildUser Nobody = new(65534, 65534);
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private BuildUser? RunAs => Environment.IsPrivilegedProcess ? Nobody : null;

    private List<string> SandboxOf(string folder) =>
        [Sandbox.Find()!, .. Sandbox.Arguments(new SandboxRequest([folder], folder, Network: false))];

    [Fact]
    public async Task Tar_InTheSandbox_StreamsTheTreeAndStoresALinkAsALink()
    {
        var tree = _temp.Combine("tree");
        _temp.Write("tree/out/a.txt", "hello");
        File.CreateSymbolicLink(Path.Combine(tree, "out", "etc"), "/etc");
        GiveToNobody(tree);
        var entries = new Dictionary<string, TarEntryType>();

        var result = await BuildUserTool.RunAsync(
            new BuildUserToolRequest { Command = ["/usr/bin/tar", "-cf", "-", "out"], WorkingDirectory = tree, Sandbox = SandboxOf(tree), RunAs = RunAs, Timeout = TimeSpan.FromMinutes(1) },
            async (stdout, ct) =>
            {
                var reader = new TarReader(stdout);
                while (await reader.GetNextEntryAsync(cancellationToken: ct) is { } entry)
                {
                    entries[entry.Name] = entry.EntryType;
                }
            });

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(TarEntryType.RegularFile, entries["out/a.txt"]);
        Assert.Equal(TarEntryType.SymbolicLink, entries["out/etc"]);
        Assert.DoesNotContain(entries.Keys, name => name.Contains("passwd", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Tool_AsTheBuildUser_CannotReadTheRunnersFiles()
    {
        Assert.True(Environment.IsPrivilegedProcess, "these tests run as root, like the server on the test machines");
        var secret = _temp.Write("secret.key", "root only");
        File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        using var output = new MemoryStream();

        // Unsandboxed on purpose: the build user's rights alone keep the runner's files out of reach.
        var result = await BuildUserTool.RunAsync(
            new BuildUserToolRequest { Command = ["/usr/bin/cat", secret], WorkingDirectory = "/", RunAs = Nobody, Timeout = TimeSpan.FromMinutes(1) },
            (stdout, ct) => stdout.CopyToAsync(output, ct));

        Assert.NotEqual(0, result.ExitCode);
        Assert.Equal(0, output.Length);
        Assert.Contains("Permission denied", result.Errors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tool_GivenInput_ReadsItOnStdin_AndAReaderThatStopsEarlyEndsTheTool()
    {
        var result = await BuildUserTool.RunAsync(
            new BuildUserToolRequest { Command = ["/usr/bin/cat"], WorkingDirectory = "/", Input = "a\nb\n"u8.ToArray(), Timeout = TimeSpan.FromMinutes(1) },
            async (stdout, ct) =>
            {
                using var reader = new StreamReader(stdout);
                Assert.Equal("a", await reader.ReadLineAsync(ct));
                Assert.Equal("b", await reader.ReadLineAsync(ct));
            });
        Assert.Equal(0, result.ExitCode);

        // `yes` never ends by itself: the reader's return must end it.
        var endless = await BuildUserTool.RunAsync(
            new BuildUserToolRequest { Command = ["/usr/bin/yes"], WorkingDirectory = "/", Timeout = TimeSpan.FromMinutes(1) },
            async (stdout, ct) => _ = await stdout.ReadAsync(new byte[16], ct));
        Assert.NotEqual(0, endless.ExitCode);
    }

    [Fact]
    public async Task Tool_PastItsTimeout_IsKilledAndSaysSo()
    {
        var ex = await Assert.ThrowsAsync<TimeoutException>(() => BuildUserTool.RunAsync(
            new BuildUserToolRequest { Command = ["/usr/bin/sleep", "600"], WorkingDirectory = "/", Timeout = TimeSpan.FromMilliseconds(200) },
            (stdout, ct) => stdout.CopyToAsync(Stream.Null, ct)));
        Assert.Contains("'sleep' did not finish", ex.Message, StringComparison.Ordinal);
    }

    private void GiveToNobody(string tree)
    {
        if (Environment.IsPrivilegedProcess)
        {
            BuildUserAccess.GiveTo(tree, Nobody);
            // The temp folders above it must let the build user pass, as a workspace does.
            for (var folder = tree; folder != Path.GetTempPath().TrimEnd('/') && folder is not null; folder = Path.GetDirectoryName(folder))
            {
                File.SetUnixFileMode(folder, File.GetUnixFileMode(folder) | UnixFileMode.OtherExecute);
            }
        }
    }
}
