using System.Diagnostics;
using System.Text;
using AutoBuilder.Runner.Processes;
using AutoBuilder.Runner.Publishing;

namespace AutoBuilder.Runner.Tests.Processes;

/// <summary>
/// What a hostile build's own variables and files can do to the processes around it (issue: a build escaped its
/// sandbox through env: LD_PRELOAD, and a FIFO in its outputs blocked its runner). Runs as root, like the server here.
/// </summary>
public sealed class HostileBuildProcessTests : IDisposable
{
    private static readonly BuildUser BuildUser = new(64000, 64000);
    private readonly TempDirectory _temp = new();
    private readonly StringBuilder _output = new();

    public HostileBuildProcessTests()
    {
        foreach (var folder in new[] { "src", "home", "tmp", "cache" })
        {
            Directory.CreateDirectory(_temp.Combine(folder));
        }
    }

    public void Dispose() => _temp.Dispose();

    /// <summary>
    /// A preloaded library runs only inside the sandbox: the host-side launch processes (setsid, sh, setpriv, bwrap) get
    /// a fixed environment, so its constructor never runs where the secret is visible. On the old launcher setsid, sh
    /// and bwrap all loaded it on the host and it read the secret.
    /// </summary>
    [Theory]
    [InlineData(true, false)]
    [InlineData(true, true)]
    [InlineData(false, true)]
    public async Task LoaderVariable_RunsNoCodeOutsideTheSandbox(bool sandboxed, bool asBuildUser)
    {
        var secret = "secret-" + Guid.NewGuid().ToString("N");
        var secretFile = _temp.Write("outside/admin.key", secret);
        File.SetUnixFileMode(secretFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var report = _temp.Combine("src", "report.txt");
        var library = await CompileLibraryAsync(secretFile, report);
        if (asBuildUser)
        {
            GiveWorkspaceToBuildUser();
        }

        var result = await RunAsync("true", sandboxed, asBuildUser, new Dictionary<string, string>
        {
            ["PATH"] = "/usr/bin:/bin",
            ["LD_PRELOAD"] = library,
        });

        Assert.Equal(0, result.ExitCode);
        var lines = File.ReadAllLines(report);
        // Positive control: the library did run — in the build's own shell.
        Assert.Contains(lines, line => line.StartsWith("/usr/bin/dash ", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, line => line.Contains(secret, StringComparison.Ordinal));
        Assert.All(lines, line => Assert.EndsWith(" HIDDEN", line, StringComparison.Ordinal));
        foreach (var hostSide in new[] { "/usr/bin/setsid", "/usr/bin/bwrap", "/usr/bin/setpriv", "/usr/bin/env", "/usr/bin/unshare" })
        {
            Assert.DoesNotContain(lines, line => line.StartsWith(hostSide + " ", StringComparison.Ordinal));
        }

        if (asBuildUser)
        {
            Assert.All(lines, line => Assert.Contains(" uid=64000 ", line, StringComparison.Ordinal));
        }
    }

    /// <summary>A root runner starts the command as the build user, inside and outside the sandbox's user namespace.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task AsBuildUser_CommandRunsUnprivileged(bool sandboxed)
    {
        Assert.True(Environment.IsPrivilegedProcess, "these tests run as root, like the server on the test machines");
        var rootOnly = _temp.Write("src/root-only.txt", "root only");
        GiveWorkspaceToBuildUser();
        File.SetUnixFileMode(rootOnly, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Run("chown", "0:0", rootOnly);

        var result = await RunAsync("id -u; id -g; id -G; cat root-only.txt; touch made-by-build; grep CapEff /proc/self/status", sandboxed, asBuildUser: true);

        Assert.Equal(0, result.ExitCode);
        Assert.StartsWith("64000\n64000\n64000\n", _output.ToString(), StringComparison.Ordinal);
        Assert.Contains("Permission denied", _output.ToString(), StringComparison.Ordinal);
        Assert.Contains("CapEff:\t0000000000000000", _output.ToString(), StringComparison.Ordinal);
        Assert.Equal(64000u, FileKinds.Stat(_temp.Combine("src", "made-by-build"))!.Uid);
    }

    /// <summary>The matcher never opens what it skips: a FIFO among the outputs is named and left out, without blocking.</summary>
    [Fact]
    public void OutputMatcher_SkipsFifoWithoutOpeningIt()
    {
        _temp.Write("src/out/app.txt", "app");
        Run("mkfifo", _temp.Combine("src", "out", "pipe"));
        var skipped = new List<string>();

        var files = OutputMatcher.Match(_temp.Combine("src"), ["out/**"], skipped.Add);

        Assert.Equal(["out/app.txt"], files);
        Assert.Equal(["skipped 'out/pipe': it is a FIFO (named pipe); only regular files are published"], skipped);
        Assert.Equal(FileKind.Fifo, FileKinds.Of(_temp.Combine("src", "out", "pipe")));
        Assert.Equal(FileKind.Regular, FileKinds.Of(_temp.Combine("src", "out", "app.txt")));
    }

    [Fact]
    public void Blocking_NamesTheFirstFolderTheBuildUserCannotPass()
    {
        var locked = _temp.Combine("locked");
        var inner = Path.Combine(locked, "inner");
        Directory.CreateDirectory(inner);
        File.SetUnixFileMode(locked, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        Assert.Equal(locked, BuildUserAccess.Blocking(inner, BuildUser));
        Assert.Null(BuildUserAccess.Blocking(_temp.Combine("src"), BuildUser));

        BuildUserAccess.GiveTo(locked, BuildUser);
        Assert.Null(BuildUserAccess.Blocking(inner, BuildUser));
        Assert.Equal(64000u, FileKinds.Stat(inner)!.Uid);
    }

    /// <summary>
    /// Handing the source over never goes through a link: an in-tree loop (d -> .., which a ZIP may carry) is not walked
    /// for ever, and a link to a root-owned folder is given itself, never its target.
    /// </summary>
    [Fact]
    public void GiveTo_ChangesLinksThemselves_NeverWalksIntoThem()
    {
        Assert.True(Environment.IsPrivilegedProcess, "these tests run as root, like the server on the test machines");
        var rootOwned = _temp.Write("outside/secret.txt", "root's");
        _temp.Write("src/a/file.txt", "x");
        File.CreateSymbolicLink(_temp.Combine("src", "a", "loop"), "..");
        File.CreateSymbolicLink(_temp.Combine("src", "a", "out"), _temp.Combine("outside"));

        BuildUserAccess.GiveTo(_temp.Combine("src"), BuildUser);

        Assert.Equal(64000u, FileKinds.Stat(_temp.Combine("src", "a", "file.txt"))!.Uid);
        Assert.Equal(0u, FileKinds.Stat(rootOwned)!.Uid);
        Assert.Equal(0u, FileKinds.Stat(_temp.Combine("outside"))!.Uid);
        using var stat = Process.Start(new ProcessStartInfo("stat", ["-c", "%u", _temp.Combine("src", "a", "out")]) { RedirectStandardOutput = true })!;
        Assert.Equal("64000", stat.StandardOutput.ReadToEnd().Trim()); // the link itself (lchown)
    }

    private void GiveWorkspaceToBuildUser()
    {
        foreach (var folder in new[] { "src", "home", "tmp", "cache" })
        {
            BuildUserAccess.GiveTo(_temp.Combine(folder), BuildUser);
        }
    }

    private Task<BuildProcessResult> RunAsync(string command, bool sandboxed, bool asBuildUser, IReadOnlyDictionary<string, string>? environment = null)
    {
        var source = _temp.Combine("src");
        IReadOnlyList<string>? sandbox = sandboxed
            ? [Sandbox.Find()!, .. Sandbox.Arguments(new SandboxRequest([source, _temp.Combine("home"), _temp.Combine("tmp"), _temp.Combine("cache")], source, Network: false))]
            : null;
        return new BuildProcess().RunAsync(
            new BuildProcessRequest
            {
                Command = command,
                WorkingDirectory = source,
                Environment = environment ?? new Dictionary<string, string> { ["PATH"] = "/usr/bin:/bin" },
                Timeout = TimeSpan.FromMinutes(2),
                Sandbox = sandbox,
                SandboxStatusFile = _temp.Combine("status.json"),
                RunAs = asBuildUser ? BuildUser : null,
                // Unsandboxed as the runner runs it: in namespaces of its own, whose init is a host-side (root) shell.
                Namespaces = sandboxed ? null : new OwnNamespaces(HostNetwork: false),
            },
            (bytes, _) =>
            {
                lock (_output)
                {
                    _output.Append(Encoding.UTF8.GetString(bytes.Span));
                }

                return ValueTask.CompletedTask;
            });
    }

    /// <summary>A shared library whose constructor reports which program loaded it, as whom, and whether it could read the secret.</summary>
    private async Task<string> CompileLibraryAsync(string secretFile, string report)
    {
        var source = _temp.Write("evil.c", $$"""
            #include <fcntl.h>
            #include <stdio.h>
            #include <unistd.h>
            __attribute__((constructor)) static void evil(void) {
              char exe[256] = {0}, secret[256] = {0};
              readlink("/proc/self/exe", exe, sizeof exe - 1);
              int fd = open("{{secretFile}}", O_RDONLY);
              int n = fd >= 0 ? (int)read(fd, secret, sizeof secret - 1) : -1;
              FILE *f = fopen("{{report}}", "a");
              if (f) { fprintf(f, "%s uid=%d %s\n", exe, (int)getuid(), n > 0 ? secret : "HIDDEN"); fclose(f); }
            }
            """);
        var library = _temp.Combine("src", "evil.so");
        var (exitCode, output) = await RunToolAsync("gcc", "-shared", "-fPIC", "-o", library, source);
        Assert.True(exitCode == 0, $"gcc failed (scripts/test.sh installs it): {output}");
        return library;
    }

    private static void Run(string tool, params string[] arguments)
    {
        var (exitCode, output) = RunToolAsync(tool, arguments).GetAwaiter().GetResult();
        Assert.True(exitCode == 0, $"{tool} failed: {output}");
    }

    private static async Task<(int ExitCode, string Output)> RunToolAsync(string tool, params string[] arguments)
    {
        var startInfo = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        using var process = Process.Start(startInfo)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await output + await error);
    }
}
