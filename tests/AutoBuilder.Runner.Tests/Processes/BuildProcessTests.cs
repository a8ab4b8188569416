using System.Globalization;
using System.Text;
using AutoBuilder.Runner.Processes;

namespace AutoBuilder.Runner.Tests.Processes;

public sealed class BuildProcessTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly MemoryStream _output = new();

    public void Dispose()
    {
        _output.Dispose();
        _temp.Dispose();
    }

    private string Output => Encoding.UTF8.GetString(_output.ToArray());

    [Fact]
    public async Task RunAsync_FailingCommand_ReturnsExitCodeAndMergedOutputInOrder()
    {
        var result = await Run("echo one; echo two >&2; echo three; exit 3");

        Assert.Equal(3, result.ExitCode);
        Assert.False(result.TimedOut);
        Assert.Equal("one\ntwo\nthree\n", Output);
    }

    [Fact]
    public async Task RunAsync_Stdin_IsEmpty()
    {
        var result = await Run("cat; echo done");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("done\n", Output);
    }

    [Fact]
    public async Task RunAsync_Timeout_KillsTheWholeProcessTree()
    {
        var pids = _temp.Combine("pids");
        var result = await Run($"sleep 1000 & echo $! > {pids}.1; (sleep 1000 & echo $! > {pids}.2; wait) & echo $$ > {pids}; wait", TimeSpan.FromSeconds(1));

        Assert.True(result.TimedOut);
        Assert.Null(result.ExitCode);
        var group = ReadPid(pids);
        Assert.All(new[] { group, ReadPid(pids + ".1"), ReadPid(pids + ".2") }, pid => Assert.False(IsAlive(pid), $"process {pid} survived"));
        Assert.Empty(LiveMembersOfGroup(group));
    }

    [Fact]
    public async Task RunAsync_ShellExitsWithBackgroundChild_ChildIsKilled()
    {
        var pid = _temp.Combine("pid");
        var result = await Run($"sleep 1000 & echo $! > {pid}; exit 0");

        Assert.Equal(0, result.ExitCode);
        Assert.False(IsAlive(ReadPid(pid)));
    }

    [Fact]
    public async Task RunAsync_Cancelled_KillsTheTreeAndThrows()
    {
        var pids = _temp.Combine("pids");
        using var cancel = new CancellationTokenSource();
        var run = Run($"echo $$ > {pids}; sleep 1000 & echo $! > {pids}.1; wait", TimeSpan.FromHours(1), cancel.Token);
        while (!File.Exists(pids + ".1") || new FileInfo(pids + ".1").Length == 0)
        {
            await Task.Delay(20);
        }

        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        Assert.False(IsAlive(ReadPid(pids)));
        Assert.False(IsAlive(ReadPid(pids + ".1")));
        Assert.Empty(LiveMembersOfGroup(ReadPid(pids)));
    }

    [Fact]
    public async Task RunAsync_BuildEnvironment_HoldsOnlyAllowListedVariables()
    {
        const string secretName = "AUTOBUILDER_TEST_BUILD_TOKEN";
        var secret = "secret-" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(secretName, secret);
        try
        {
            var toolchain = new Dictionary<string, string> { ["MAVEN_OPTS"] = "-Dx=y" };
            var user = new Dictionary<string, string> { ["MY_FLAG"] = "1" };
            var env = BuildEnvironment.Create(new BuildEnvironmentRequest(_temp.Combine("home"), _temp.Combine("tmp"), 7, "demo", toolchain, user));

            var result = await Run("env", environment: env);

            Assert.Equal(0, result.ExitCode);
            Assert.DoesNotContain(secret, Output, StringComparison.Ordinal);
            var names = Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => line.Split('=')[0]).ToHashSet();
            string[] allowed = [.. BuildEnvironment.Inherited, "HOME", "TMPDIR", "CI", "AUTOBUILDER_BUILD_NUMBER", "AUTOBUILDER_PROJECT", "MAVEN_OPTS", "MY_FLAG",
                "PWD", "OLDPWD", "SHLVL", "_"]; // the last four the shell sets itself.
            Assert.Empty(names.Except(allowed));
            Assert.Contains($"HOME={_temp.Combine("home")}\n", Output, StringComparison.Ordinal);
            Assert.Contains("AUTOBUILDER_BUILD_NUMBER=7\n", Output, StringComparison.Ordinal);
            Assert.Contains("CI=true\n", Output, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable(secretName, null);
        }
    }

    private Task<BuildProcessResult> Run(string command, TimeSpan? timeout = null, CancellationToken cancellationToken = default, IReadOnlyDictionary<string, string>? environment = null) =>
        new BuildProcess().RunAsync(
            new BuildProcessRequest
            {
                Command = command,
                WorkingDirectory = _temp.Path,
                Environment = environment ?? new Dictionary<string, string> { ["PATH"] = "/usr/bin:/bin" },
                Timeout = timeout ?? TimeSpan.FromMinutes(5),
            },
            (bytes, _) =>
            {
                _output.Write(bytes.Span);
                return ValueTask.CompletedTask;
            },
            cancellationToken);

    private static int ReadPid(string path) => int.Parse(File.ReadAllText(path).Trim(), CultureInfo.InvariantCulture);

    /// <summary>Alive = has a /proc entry that is not a zombie (orphans may wait for a reaper in containers).</summary>
    private static bool IsAlive(int pid)
    {
        var stat = ReadStat(pid);
        return stat is not null && stat.Value.State != 'Z';
    }

    private static List<int> LiveMembersOfGroup(int group) =>
        [.. Directory.EnumerateDirectories("/proc")
            .Select(Path.GetFileName)
            .Where(name => name!.All(char.IsAsciiDigit))
            .Select(name => int.Parse(name!, CultureInfo.InvariantCulture))
            .Where(pid => ReadStat(pid) is { State: not 'Z' } stat && stat.Group == group)];

    private static (char State, int Group)? ReadStat(int pid)
    {
        try
        {
            // /proc/PID/stat: "pid (comm) state ppid pgrp ..."; comm may hold spaces, so parse after the last ')'.
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (fields[0][0], int.Parse(fields[2], CultureInfo.InvariantCulture));
        }
        catch (IOException)
        {
            return null;
        }
    }
}
