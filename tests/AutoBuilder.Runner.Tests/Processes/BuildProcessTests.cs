using System.Globalization;
using System.Text;
using AutoBuilder.Runner.Processes;
using Microsoft.Extensions.Time.Testing;

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

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RunAsync_Stdin_IsEmpty(bool ownNamespaces)
    {
        var result = await Run("cat; echo done", namespaces: ownNamespaces ? new OwnNamespaces(HostNetwork: false) : null);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("done\n", Output);
    }

    [Fact]
    public async Task RunAsync_Timeout_KillsTheWholeProcessTree()
    {
        // The timeout runs on a fake clock, moved on only once every process has written its pid: a loaded machine
        // cannot let the timeout fire before the tree exists (which used to fail the test for no fault of the code).
        var time = new FakeTimeProvider();
        var timeout = TimeSpan.FromMinutes(1);
        var pids = _temp.Combine("pids");
        var run = Run($"sleep 1000 & echo $! > {pids}.1; (sleep 1000 & echo $! > {pids}.2; wait) & echo $$ > {pids}; wait", timeout, time: time);
        string[] files = [pids, pids + ".1", pids + ".2"];
        Assert.True(await TestWait.UntilAsync(() => files.All(HasPid)), "the command never wrote its three pids");
        var group = ReadPid(pids);
        var tree = files.Select(ReadPid).ToList();
        Assert.All(tree, pid => Assert.True(IsAlive(pid), $"process {pid} is not running before the timeout")); // positive control

        await TestWait.AdvanceUntilDoneAsync(time, timeout, run);
        var result = await run;

        Assert.True(result.TimedOut);
        Assert.Null(result.ExitCode);
        Assert.True(result.Elapsed >= timeout, $"timed out after {result.Elapsed} on the fake clock");
        foreach (var pid in tree)
        {
            Assert.True(await TestWait.UntilAsync(() => !IsAlive(pid)), $"process {pid} survived");
        }

        Assert.True(await TestWait.UntilAsync(() => LiveMembersOfGroup(group).Count == 0), $"group {group} still has {string.Join(", ", LiveMembersOfGroup(group))}");
    }

    [Fact]
    public async Task RunAsync_ShellExitsWithBackgroundChild_ChildIsKilled()
    {
        var pid = _temp.Combine("pid");
        var result = await Run($"sleep 1000 & echo $! > {pid}; exit 0");

        Assert.Equal(0, result.ExitCode);
        Assert.True(HasPid(pid), "the background child never started"); // positive control
        var child = ReadPid(pid);
        // SIGKILL is sent before RunAsync returns; the kernel ends the process a moment later.
        Assert.True(await TestWait.UntilAsync(() => !IsAlive(child)), $"background child {child} survived");
    }

    [Fact]
    public async Task RunAsync_Cancelled_KillsTheTreeAndThrows()
    {
        var pids = _temp.Combine("pids");
        using var cancel = new CancellationTokenSource();
        var run = Run($"echo $$ > {pids}; sleep 1000 & echo $! > {pids}.1; wait", TimeSpan.FromHours(1), cancel.Token);
        Assert.True(await TestWait.UntilAsync(() => HasPid(pids) && HasPid(pids + ".1")), "the command never wrote its pids");
        var (shell, child) = (ReadPid(pids), ReadPid(pids + ".1"));
        Assert.True(IsAlive(shell) && IsAlive(child), "the command is not running before the cancel"); // positive control

        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        Assert.True(await TestWait.UntilAsync(() => !IsAlive(shell)), $"shell {shell} survived");
        Assert.True(await TestWait.UntilAsync(() => !IsAlive(child)), $"child {child} survived");
        Assert.True(await TestWait.UntilAsync(() => LiveMembersOfGroup(shell).Count == 0), $"group {shell} still has {string.Join(", ", LiveMembersOfGroup(shell))}");
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
                "NODE_EXTRA_CA_CERTS", "PWD", "OLDPWD", "SHLVL", "_"]; // the last four the shell sets itself.
            Assert.Empty(names.Except(allowed));
            // Set by AutoBuilder to the machine's CA bundle (not taken from the runner's environment).
            Assert.Contains($"NODE_EXTRA_CA_CERTS={BuildEnvironment.SystemCaBundle()}\n", Output, StringComparison.Ordinal);
            Assert.Contains($"HOME={_temp.Combine("home")}\n", Output, StringComparison.Ordinal);
            Assert.Contains("AUTOBUILDER_BUILD_NUMBER=7\n", Output, StringComparison.Ordinal);
            Assert.Contains("CI=true\n", Output, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable(secretName, null);
        }
    }

    /// <summary>
    /// Unsandboxed in namespaces of its own (issue 18, finding 4): a setsid daemon, which leaves the process group and is
    /// reparented away from the shell, is gone when the command ends, and the host's loopback cannot be reached. On the
    /// old launcher (the group kill only, the host's network) the daemon outlived the build and the port answered.
    /// </summary>
    [Fact]
    public async Task RunAsync_OwnNamespaces_NoDaemonOutlivesTheCommand_AndTheHostsLoopbackIsOutOfReach()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        var marker = 3_000 + Random.Shared.Next(100_000);
        var started = _temp.Combine("daemon-started");

        var result = await Run($$"""
            setsid sh -c 'echo up > {{started}}; exec sleep {{marker}}' </dev/null >/dev/null 2>&1 &
            while [ ! -s {{started}} ]; do sleep 0.01; done
            if bash -c "exec 3<>/dev/tcp/127.0.0.1/{{port}}" 2>/dev/null; then echo "loopback: reached"; else echo "loopback: refused"; fi
            if bash -c "exec 3<>/dev/tcp/127.0.0.1/1" 2>&1 | grep -q refused; then echo "own loopback: up"; fi
            """, namespaces: new OwnNamespaces(HostNetwork: false));

        Assert.True(result.ExitCode == 0, Output);
        Assert.True(File.Exists(started), "the daemon never started"); // positive control
        Assert.Contains("loopback: refused", Output, StringComparison.Ordinal);
        Assert.Contains("own loopback: up", Output, StringComparison.Ordinal); // its own loopback works: "refused", not "unreachable"
        Assert.False(listener.Pending(), "the host's port was reached");
        var daemon = $"sleep\0{marker}\0";
        var gone = await TestWait.UntilAsync(() => ProcessesRunning(daemon).Count == 0);
        var left = ProcessesRunning(daemon);
        left.ForEach(KillProcess); // the test's own daemon, by pid, should it have outlived the command
        Assert.True(gone, $"the daemon outlived the command: pid {string.Join(", ", left)}");
    }

    private static void KillProcess(int pid)
    {
        try
        {
            System.Diagnostics.Process.GetProcessById(pid).Kill();
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // Gone meanwhile.
        }
    }

    /// <summary>Sandbox:Network=Host, the control: the same command reaches the host's loopback.</summary>
    [Fact]
    public async Task RunAsync_OwnNamespacesWithHostNetwork_ReachesTheHostsLoopback()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;

        var result = await Run($"if bash -c \"exec 3<>/dev/tcp/127.0.0.1/{port}\" 2>/dev/null; then echo \"loopback: reached\"; fi",
            namespaces: new OwnNamespaces(HostNetwork: true));

        Assert.True(result.ExitCode == 0, Output);
        Assert.Contains("loopback: reached", Output, StringComparison.Ordinal);
    }

    private Task<BuildProcessResult> Run(string command, TimeSpan? timeout = null, CancellationToken cancellationToken = default,
        IReadOnlyDictionary<string, string>? environment = null, TimeProvider? time = null, OwnNamespaces? namespaces = null) =>
        new BuildProcess(time).RunAsync(
            new BuildProcessRequest
            {
                Command = command,
                WorkingDirectory = _temp.Path,
                Environment = environment ?? new Dictionary<string, string> { ["PATH"] = "/usr/bin:/bin" },
                Timeout = timeout ?? TimeSpan.FromMinutes(5),
                Namespaces = namespaces,
            },
            (bytes, _) =>
            {
                _output.Write(bytes.Span);
                return ValueTask.CompletedTask;
            },
            cancellationToken);

    /// <summary>Live host pids whose whole command line is <paramref name="cmdline"/> (NUL-separated).</summary>
    private static List<int> ProcessesRunning(string cmdline)
    {
        var found = new List<int>();
        foreach (var folder in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                if (int.TryParse(Path.GetFileName(folder), out var pid) && File.ReadAllText(Path.Combine(folder, "cmdline")) == cmdline && IsAlive(pid))
                {
                    found.Add(pid);
                }
            }
            catch (IOException)
            {
                // Gone meanwhile.
            }
        }

        return found;
    }

    /// <summary>The shell has written the whole pid (echo writes the line at once).</summary>
    private static bool HasPid(string path) => File.Exists(path) && File.ReadAllText(path).EndsWith('\n');

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
