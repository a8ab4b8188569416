using AutoBuilder.Core.Builds;
using AutoBuilder.EndToEnd.Tests.Infrastructure;
using AutoBuilder.Tests.Shared;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>
/// Executor:Runner: the runner inside the server (InProcess, the default) or a child process per build (Process).
/// Either way a build never outlives the server that started it, even one killed with SIGKILL.
/// </summary>
public sealed class RunnerPlacementTests
{
    [Theory]
    [InlineData("InProcess")]
    [InlineData("Process")]
    public async Task ServerKilled_SandboxedBuildDiesWithIt(string runner)
    {
        var root = TestPaths.NewTempDirectory("orphan");
        // A sleep no other process on this machine runs: its arguments are how the test finds the build on the host.
        var seconds = 3_000 + Random.Shared.Next(100_000);
        var settings = new Dictionary<string, string> { ["Executor:Runner"] = runner, ["Sandbox:Mode"] = "Required" };
        List<int> network;
        await using (var server = await ServerProcess.StartAsync(Path.Combine(root, "data"), settings))
        {
            using var client = server.CreateClient();
            var build = await ApiCalls.StartBuildAsync(client, "orphan", new Dictionary<string, string> { ["build.sh"] = $"echo started\nsleep {seconds}\n" });
            await ApiCalls.WaitForAsync(client, build.Id, b => b.Phase == BuildPhase.Building);
            Assert.True(await WaitUntilAsync(() => SleepProcesses(seconds).Count > 0), "the build's sleep never started");
            // The build's egress network (the default): its slirp4netns serves one of the sleep's ancestors.
            network = NetworkHelpers(SleepProcesses(seconds)[0]);
            Assert.NotEmpty(network);

            await server.KillAsync();
        }

        Assert.True(await WaitUntilAsync(() => SleepProcesses(seconds).Count == 0),
            $"the build outlived its server: pid {string.Join(", ", SleepProcesses(seconds))} still runs 'sleep {seconds}'");
        Assert.True(await WaitUntilAsync(() => network.All(pid => !Directory.Exists($"/proc/{pid}"))),
            $"the build's slirp4netns outlived its server: pid {string.Join(", ", network)}");
        Directory.Delete(root, recursive: true);
    }

    [Fact]
    public async Task ProcessRunner_BuildsAndReportsLikeTheInProcessOne()
    {
        var root = TestPaths.NewTempDirectory("runner-process");
        await using var server = await ServerProcess.StartAsync(Path.Combine(root, "data"), new Dictionary<string, string> { ["Executor:Runner"] = "Process" });
        using var client = server.CreateClient();

        await QuickBuildSucceedsAsync(client, "runner-process");
        Directory.Delete(root, recursive: true);
    }

    /// <summary>
    /// Split roles with the default placement: the runner lives in the dispatcher process and reaches the API process
    /// over HTTP (Dispatcher:ApiUrl), as a runner process or a Kubernetes Job would.
    /// </summary>
    [Fact]
    public async Task SplitRoles_RunnerInsideTheDispatcher_BuildsThroughTheApiProcess()
    {
        var root = TestPaths.NewTempDirectory("runner-split");
        var data = Path.Combine(root, "data");
        await using var postgres = await PostgresServer.StartAsync();
        var shared = new Dictionary<string, string>
        {
            ["Metadata:Provider"] = "Postgres",
            ["ConnectionStrings:Metadata"] = await postgres.CreateDatabaseAsync("split"),
            ["Auth:BootstrapAdminKey"] = ScaledDeploymentFixture.AdminKey,
            ["Storage:SigningKey"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
            ["Dispatcher:PollInterval"] = "00:00:00.200",
        };
        await using var api = await ServerProcess.StartAsync(data, shared, role: "api");
        await using var dispatcher = await ServerProcess.StartAsync(data, new Dictionary<string, string>(shared) { ["Dispatcher:ApiUrl"] = api.Url.ToString() }, role: "dispatcher");
        using var client = api.CreateClient(ScaledDeploymentFixture.AdminKey);

        await QuickBuildSucceedsAsync(client, "runner-split");
        Directory.Delete(root, recursive: true);
    }

    [Fact]
    public async Task Serve_UnknownRunnerPlacement_FailsAtStartNamingTheKey()
    {
        var root = TestPaths.NewTempDirectory("runner-bad");
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            ServerProcess.StartAsync(Path.Combine(root, "data"), new Dictionary<string, string> { ["Executor:Runner"] = "Thread" }));

        Assert.Contains("Executor:Runner", error.Message, StringComparison.Ordinal);
        Directory.Delete(root, recursive: true);
    }

    private static async Task QuickBuildSucceedsAsync(HttpClient client, string project)
    {
        var build = await ApiCalls.StartBuildAsync(client, project, ApiCalls.QuickBuild);
        var ended = await ApiCalls.WaitForEndAsync(client, build.Id);
        var log = await ApiCalls.GetLogAsync(client, build.Id);

        Assert.True(ended.Status == BuildStatus.Succeeded, log);
        Assert.Contains("outcome: succeeded", log, StringComparison.Ordinal);
    }

    /// <summary>Host pids whose command line is exactly `sleep N` (a sandbox's processes are visible from the host).</summary>
    /// <summary>The slirp4netns processes whose target (their next-to-last argument) is an ancestor of <paramref name="pid"/>.</summary>
    private static List<int> NetworkHelpers(int pid)
    {
        var ancestors = new HashSet<string>(StringComparer.Ordinal);
        for (var current = pid; current > 1;)
        {
            ancestors.Add(current.ToString(System.Globalization.CultureInfo.InvariantCulture));
            var stat = File.ReadAllText($"/proc/{current}/stat");
            current = int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        }

        var helpers = new List<int>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                if (int.TryParse(Path.GetFileName(directory), out var candidate)
                    && File.ReadAllText(Path.Combine(directory, "cmdline")).Split('\0', StringSplitOptions.RemoveEmptyEntries) is [.., var target, "tap0"] args
                    && args[0].EndsWith("slirp4netns", StringComparison.Ordinal) && ancestors.Contains(target))
                {
                    helpers.Add(candidate);
                }
            }
            catch (IOException)
            {
                // The process ended while we looked.
            }
        }

        return helpers;
    }

    private static List<int> SleepProcesses(int seconds)
    {
        var wanted = $"sleep\0{seconds}\0";
        var found = new List<int>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out var pid))
            {
                continue;
            }

            try
            {
                if (File.ReadAllText(Path.Combine(directory, "cmdline")) == wanted && !File.ReadAllText(Path.Combine(directory, "stat")).Contains(") Z ", StringComparison.Ordinal))
                {
                    found.Add(pid);
                }
            }
            catch (IOException)
            {
                // The process ended while we looked.
            }
        }

        return found;
    }

    /// <summary>True once the condition holds; false if it still does not after 2 min (a hang guard, not a deadline the code must meet).</summary>
    private static async Task<bool> WaitUntilAsync(Func<bool> condition)
    {
        for (var deadline = DateTime.UtcNow.AddMinutes(2); DateTime.UtcNow < deadline; await Task.Delay(200))
        {
            if (condition())
            {
                return true;
            }
        }

        return condition();
    }
}
