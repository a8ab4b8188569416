using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using AutoBuilder.Runner.Processes;
using Microsoft.Extensions.Time.Testing;

namespace AutoBuilder.Runner.Tests.Processes;

/// <summary>The build command under bubblewrap (bwrap must be installed: scripts/test.sh installs it).</summary>
public sealed class SandboxedBuildProcessTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly MemoryStream _output = new();

    public SandboxedBuildProcessTests()
    {
        foreach (var folder in new[] { "src", "home", "tmp", "cache" })
        {
            Directory.CreateDirectory(_temp.Combine(folder));
        }
    }

    public void Dispose()
    {
        _output.Dispose();
        _temp.Dispose();
    }

    private string Output => Encoding.UTF8.GetString(_output.ToArray());

    [Fact]
    public void Find_OnThisMachine_FindsBwrap() => Assert.NotNull(Sandbox.Find());

    [Fact]
    public async Task RunAsync_Sandboxed_SeesOnlyItsFoldersAndWritesOnlyThere()
    {
        var secret = "secret-" + Guid.NewGuid().ToString("N");
        var outside = _temp.Write("outside/admin.key", secret);
        var escaped = _temp.Combine("outside", "written");

        var result = await Run(
            $"cat {outside}; ls /root /work /home; echo x > {escaped}; echo x > /usr/escaped-{secret}; echo ok > out.txt; echo cache > {_temp.Combine("cache", "c")};" +
            " cat /etc/shadow; ls /proc | grep -c '^[0-9]'; grep -c Cap /proc/self/status; grep CapEff /proc/self/status; pwd");

        Assert.Equal(0, result.ExitCode);
        Assert.False(result.SandboxFailed);
        Assert.DoesNotContain(secret + "\n", Output, StringComparison.Ordinal);
        Assert.Contains($"cat: {outside}: No such file or directory", Output, StringComparison.Ordinal);
        Assert.Contains("ls: cannot access '/root': No such file or directory", Output, StringComparison.Ordinal);
        Assert.Contains("ls: cannot access '/work': No such file or directory", Output, StringComparison.Ordinal);
        Assert.False(File.Exists(escaped));
        Assert.False(File.Exists($"/usr/escaped-{secret}"));
        Assert.Equal("ok\n", await File.ReadAllTextAsync(_temp.Combine("src", "out.txt")));
        Assert.Equal("cache\n", await File.ReadAllTextAsync(_temp.Combine("cache", "c")));
        Assert.Contains("cat: /etc/shadow: Permission denied", Output, StringComparison.Ordinal);
        Assert.Contains("CapEff:\t0000000000000000\n", Output, StringComparison.Ordinal);
        Assert.EndsWith(_temp.Combine("src") + "\n", Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_Sandboxed_SeesNoProcessOfTheHost()
    {
        var result = await Run("for p in /proc/[0-9]*; do cat $p/cmdline | tr '\\0' ' '; echo; done");

        Assert.Equal(0, result.ExitCode);
        Assert.DoesNotContain("dotnet", Output, StringComparison.Ordinal);
        Assert.DoesNotContain("testhost", Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_Sandboxed_ExitCodeAndEnvironmentPassThrough()
    {
        var env = new Dictionary<string, string> { ["PATH"] = "/usr/bin:/bin", ["HOME"] = _temp.Combine("home"), ["MY_FLAG"] = "42" };

        var result = await Run("env; exit 7", environment: env);

        Assert.Equal(7, result.ExitCode);
        Assert.False(result.SandboxFailed);
        var names = Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => line.Split('=')[0]).ToHashSet();
        Assert.Empty(names.Except(["PATH", "HOME", "MY_FLAG", "PWD", "OLDPWD", "SHLVL", "_"]));
        Assert.Contains("MY_FLAG=42\n", Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RunAsync_Sandboxed_ReachesLoopbackOnlyWithNetwork(bool network)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var accept = listener.AcceptTcpClientAsync();

        var result = await Run($"bash -c 'echo hello > /dev/tcp/127.0.0.1/{port}' && echo CONNECTED || echo REFUSED", network: network);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains(network ? "CONNECTED" : "REFUSED", Output, StringComparison.Ordinal);
        if (network)
        {
            using var client = await accept.WaitAsync(TimeSpan.FromSeconds(30));
        }
        else
        {
            Assert.False(accept.IsCompleted);
        }
    }

    [Fact]
    public async Task RunAsync_SandboxedTimeout_KillsEverythingInTheSandbox()
    {
        // The timeout runs on a fake clock, moved on once all three sleeps run: a 2 s real timeout could fire on a
        // loaded machine before they started, and "none survived" would then hold without anything having run.
        var time = new FakeTimeProvider();
        var timeout = TimeSpan.FromMinutes(1);
        var marker = "1000." + Random.Shared.Next(100_000, 999_999).ToString(CultureInfo.InvariantCulture);
        var run = Run($"sleep {marker} & (sleep {marker} & wait) & setsid sleep {marker} & echo started; wait", timeout, time: time);
        Assert.True(await TestWait.UntilAsync(() => SleepsWith(marker).Count == 3), $"the 3 sleeps never ran together: {SleepsWith(marker).Count}"); // positive control

        await TestWait.AdvanceUntilDoneAsync(time, timeout, run);
        var result = await run;

        Assert.True(result.TimedOut);
        Assert.Contains("started", Output, StringComparison.Ordinal);
        Assert.Empty(await WaitUntilGoneAsync(marker));
    }

    [Fact]
    public async Task RunAsync_SandboxedCancelled_KillsEverythingInTheSandbox()
    {
        var marker = "1000." + Random.Shared.Next(100_000, 999_999).ToString(CultureInfo.InvariantCulture);
        using var cancel = new CancellationTokenSource();
        var run = Run($"sleep {marker} & echo started; wait", TimeSpan.FromHours(1), cancel.Token);
        // Positive control: the sleep itself runs (not only the echo after it was forked) before the cancel.
        Assert.True(await TestWait.UntilAsync(() => SleepsWith(marker).Count == 1), "the sandboxed sleep never ran");

        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        Assert.Empty(await WaitUntilGoneAsync(marker));
    }

    [Fact]
    public async Task RunAsync_SandboxCannotStart_ReportsSandboxFailedWithBwrapsReason()
    {
        var bwrap = Sandbox.Find()!;
        var result = await new BuildProcess().RunAsync(
            new BuildProcessRequest
            {
                Command = "echo RAN",
                WorkingDirectory = _temp.Path,
                Environment = new Dictionary<string, string> { ["PATH"] = "/usr/bin:/bin" },
                Timeout = TimeSpan.FromMinutes(1),
                Sandbox = [bwrap, "--ro-bind", "/nonexistent-" + Guid.NewGuid().ToString("N"), "/x", "--"],
                SandboxStatusFile = _temp.Combine("status.json"),
            },
            Collect);

        Assert.True(result.SandboxFailed);
        Assert.DoesNotContain("RAN", Output, StringComparison.Ordinal);
        Assert.Contains("bwrap: ", Output, StringComparison.Ordinal);
    }

    private Task<BuildProcessResult> Run(string command, TimeSpan? timeout = null, CancellationToken cancellationToken = default,
        IReadOnlyDictionary<string, string>? environment = null, bool network = false, TimeProvider? time = null)
    {
        var bwrap = Sandbox.Find() ?? throw new InvalidOperationException("bwrap is not installed (apt-get install bubblewrap)");
        var source = _temp.Combine("src");
        var sandbox = Sandbox.Arguments(new SandboxRequest([source, _temp.Combine("home"), _temp.Combine("tmp"), _temp.Combine("cache")], source, network));
        return new BuildProcess(time).RunAsync(
            new BuildProcessRequest
            {
                Command = command,
                WorkingDirectory = source,
                Environment = environment ?? new Dictionary<string, string> { ["PATH"] = "/usr/bin:/bin" },
                Timeout = timeout ?? TimeSpan.FromMinutes(5),
                Sandbox = [bwrap, .. sandbox],
                SandboxStatusFile = _temp.Combine("status.json"),
            },
            Collect,
            cancellationToken);
    }

    private ValueTask Collect(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        lock (_output)
        {
            _output.Write(bytes.Span);
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>Live processes (not zombies) whose command line holds the marker, once they are gone or the hang guard ran out.</summary>
    private static async Task<List<int>> WaitUntilGoneAsync(string marker)
    {
        await TestWait.UntilAsync(() => ProcessesWith(marker).Count == 0);
        return ProcessesWith(marker);
    }

    /// <summary>Live `sleep MARKER` processes themselves (the shells and bwrap above them hold the marker in their command lines too).</summary>
    private static List<int> SleepsWith(string marker) =>
        [.. ProcessesWith(marker).Where(pid => CommandLine(pid) == $"sleep\0{marker}\0")];

    private static string CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline");
        }
        catch (IOException)
        {
            return "";
        }
    }

    private static List<int> ProcessesWith(string marker) =>
        [.. Directory.EnumerateDirectories("/proc")
            .Select(Path.GetFileName)
            .Where(name => name!.All(char.IsAsciiDigit))
            .Select(name => int.Parse(name!, CultureInfo.InvariantCulture))
            .Where(pid => IsLiveWith(pid, marker))];

    private static bool IsLiveWith(int pid, string marker)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)] != 'Z' && File.ReadAllText($"/proc/{pid}/cmdline").Contains(marker, StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    }
}
