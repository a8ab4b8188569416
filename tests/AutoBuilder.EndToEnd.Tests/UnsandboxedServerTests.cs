using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using AutoBuilder.Core;
using AutoBuilder.Core.Api;
using AutoBuilder.Core.Builds;
using AutoBuilder.EndToEnd.Tests.Infrastructure;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>
/// Issue 18, findings 4 and 9, against a real `serve` (root, as in CI): a server without bubblewrap builds only admins'
/// projects, and those without the host's network and without leaving a process behind; a server SIGKILLed at any point
/// of a build's start leaves no process of that build.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class UnsandboxedServerTests
{
    /// <summary>
    /// Sandbox:Mode=Auto with no bwrap on PATH: the non-admin's build fails in one attempt naming the fix and runs nothing;
    /// the admin's build runs unsandboxed, cannot reach a port the test opens on the host's 127.0.0.1, and the setsid
    /// daemon it starts is gone once it ends. On the old code the non-admin's build ran, the port answered and the daemon
    /// outlived the build.
    /// </summary>
    [Fact]
    public async Task WithoutBubblewrap_ANonAdminsBuildFailsNamingTheFix_AnAdminsRunsOffTheHostsLoopbackAndLeavesNoDaemon()
    {
        var root = TestPaths.NewTempDirectory("no-bwrap-builds");
        var marker = NewMarker();
        try
        {
            await using var server = await ServerProcess.StartAsync(Path.Combine(root, "data"),
                new Dictionary<string, string> { ["Sandbox:Mode"] = "Auto" },
                new Dictionary<string, string> { ["PATH"] = PathWithout(root, "bwrap") });
            using var admin = server.CreateClient();
            using var alice = await NewUserAsync(server, admin, "alice");
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;

            var refused = await ApiCalls.StartBuildAsync(alice, "alice-" + marker, new Dictionary<string, string> { ["build.sh"] = "echo the build ran\n" });
            var refusedEnd = await ApiCalls.WaitForEndAsync(alice, refused.Id);
            var refusedLog = await ApiCalls.GetLogAsync(alice, refused.Id);

            Assert.Equal(BuildStatus.Failed, refusedEnd.Status);
            Assert.Equal(1, refusedEnd.Attempt);
            Assert.Contains("apt-get install bubblewrap", refusedEnd.Error, StringComparison.Ordinal);
            Assert.Contains("Sandbox:Mode=Off", refusedEnd.Error, StringComparison.Ordinal);
            Assert.DoesNotContain("the build ran", refusedLog, StringComparison.Ordinal);
            Assert.DoesNotContain("building took", refusedLog, StringComparison.Ordinal);

            var build = await ApiCalls.StartBuildAsync(admin, "admin-" + marker, new Dictionary<string, string>
            {
                ["build.sh"] = $$"""
                    setsid sh -c 'echo up > "$TMPDIR/daemon"; exec sleep {{marker}}' </dev/null >/dev/null 2>&1 &
                    while [ ! -s "$TMPDIR/daemon" ]; do sleep 0.01; done
                    echo "daemon: up"
                    if bash -c "exec 3<>/dev/tcp/127.0.0.1/{{port}}" 2>/dev/null; then echo "loopback: reached"; else echo "loopback: refused"; fi
                    """,
            });
            var ended = await ApiCalls.WaitForEndAsync(admin, build.Id);
            var log = await ApiCalls.GetLogAsync(admin, build.Id);

            Assert.True(ended.Status == BuildStatus.Succeeded, log);
            Assert.Contains("sandbox: off", log, StringComparison.Ordinal);
            Assert.Contains("daemon: up", log, StringComparison.Ordinal); // positive control: the daemon did start
            Assert.Contains("loopback: refused", log, StringComparison.Ordinal);
            Assert.False(listener.Pending(), "the build reached the host's 127.0.0.1");
            Assert.True(await BuildProcesses.GoneAsync(marker), $"the build's setsid daemon outlived it: {BuildProcesses.Describe(marker)}");
        }
        finally
        {
            BuildProcesses.Kill(marker);
            Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>
    /// The server is SIGKILLed at one point of a build's start: while it stages; with the build's launcher started and
    /// waiting for its network (slirp4netns is held by a stand-in the test controls, so the network is never ready); with
    /// the build running sandboxed; with it running unsandboxed (Sandbox:Mode=Off). Afterwards no process whose command
    /// line carries the build's marker may remain. On the old code the waiting launcher polled for its ready file for ever
    /// and the unsandboxed build ran on to its end.
    /// </summary>
    [Theory]
    [InlineData("staging")]
    [InlineData("network")]
    [InlineData("sandboxed")]
    [InlineData("unsandboxed")]
    public async Task ServerKilled_AtAPointOfABuildsStart_LeavesNoProcessOfTheBuild(string point)
    {
        var root = TestPaths.NewTempDirectory("killed-" + point);
        var marker = NewMarker();
        var held = Path.Combine(root, "slirp4netns-held");
        var settings = new Dictionary<string, string> { ["Sandbox:Mode"] = point == "unsandboxed" ? "Off" : "Required" };
        var environment = new Dictionary<string, string>();
        if (point == "network")
        {
            // Found first on PATH: says it was started, then only reads its stdin until the runner's end closes it.
            var bin = Directory.CreateDirectory(Path.Combine(root, "bin")).FullName;
            var stub = Path.Combine(bin, "slirp4netns");
            await File.WriteAllTextAsync(stub, $"#!/bin/sh\necho held > '{held}'\nexec cat >/dev/null\n");
            File.SetUnixFileMode(stub, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            environment["PATH"] = bin + ":" + Environment.GetEnvironmentVariable("PATH");
        }

        try
        {
            await using (var server = await ServerProcess.StartAsync(Path.Combine(root, "data"), settings, environment))
            {
                using var client = server.CreateClient();
                var build = await ApiCalls.StartBuildAsync(client, "killed-" + marker, new Dictionary<string, string>
                {
                    ["build.sh"] = "exit 0\n",
                    // The command line of every launch process carries the command, and so the marker.
                    ["autobuilder.yml"] = $"command: \"setsid sleep {marker} </dev/null >/dev/null 2>&1 & sleep {marker}\"\n",
                });
                switch (point)
                {
                    case "staging":
                        // Staging takes a moment: a loaded machine's poll may first see the build already building (its
                        // sleep lasts for days), which is then the earliest point the test can still kill it at.
                        await ApiCalls.WaitForAsync(client, build.Id, b => b.Phase is BuildPhase.Staging or BuildPhase.Building);
                        break;
                    case "network":
                        Assert.True(await WaitUntilAsync(() => File.Exists(held)), "the build's network was never asked for");
                        Assert.NotEmpty(BuildProcesses.Find(marker)); // positive control: the launcher is there, waiting
                        break;
                    default:
                        // Both sleeps, the daemon and the command's own: every launch step is behind them.
                        Assert.True(await WaitUntilAsync(() => BuildProcesses.Sleeps(marker) == 2), "the build's sleeps never started");
                        break;
                }

                await server.KillAsync();
            }

            Assert.True(await BuildProcesses.GoneAsync(marker), $"the build outlived its SIGKILLed server: {BuildProcesses.Describe(marker)}");
        }
        finally
        {
            BuildProcesses.Kill(marker);
            Directory.Delete(root, recursive: true);
        }
    }

    private static int NewMarker() => Random.Shared.Next(100_000, 1_000_000);

    /// <summary>A PATH of links to everything in /usr/bin but <paramref name="left"/>, and /usr/sbin.</summary>
    private static string PathWithout(string root, string left)
    {
        var bin = Directory.CreateDirectory(Path.Combine(root, "path-without-" + left)).FullName;
        foreach (var tool in Directory.EnumerateFileSystemEntries("/usr/bin").Where(tool => Path.GetFileName(tool) != left))
        {
            File.CreateSymbolicLink(Path.Combine(bin, Path.GetFileName(tool)), tool);
        }

        return bin + ":/usr/sbin";
    }

    private static async Task<HttpClient> NewUserAsync(ServerProcess server, HttpClient admin, string name)
    {
        var user = $"{name}-{Guid.NewGuid():N}"[..20];
        using var created = await admin.PostAsync(ApiRoutes.UserKeys(user), null);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var key = (await created.Content.ReadFromJsonAsync<ApiKeyCreated>(AutoBuilderJson.Options))!;
        return server.CreateClient(key.Key);
    }

    /// <summary>True once the condition holds; false if it still does not after 2 min (a hang guard, not a deadline).</summary>
    private static async Task<bool> WaitUntilAsync(Func<bool> condition)
    {
        for (var deadline = DateTime.UtcNow.AddMinutes(2); DateTime.UtcNow < deadline; await Task.Delay(50))
        {
            if (condition())
            {
                return true;
            }
        }

        return condition();
    }

    /// <summary>The host's processes whose command line carries `sleep {marker}` (a sandbox's processes are visible from the host).</summary>
    private static class BuildProcesses
    {
        public static Task<bool> GoneAsync(int marker) => WaitUntilAsync(() => Find(marker).Count == 0);

        public static string Describe(int marker) =>
            string.Join("; ", Find(marker).Select(pid => $"pid {pid}: {CommandLine(pid)}"));

        /// <summary>Cleans up after a failure, by pid: the test's own processes only.</summary>
        public static void Kill(int marker)
        {
            foreach (var pid in Find(marker))
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
        }

        /// <summary>How many processes are exactly `sleep {marker}`.</summary>
        public static int Sleeps(int marker) => Find(marker).Count(pid => CommandLine(pid) == $"sleep {marker.ToString(CultureInfo.InvariantCulture)} ");

        public static List<int> Find(int marker)
        {
            var wanted = $"sleep {marker.ToString(CultureInfo.InvariantCulture)} "; // each argument ends in a NUL, read as a space
            var found = new List<int>();
            foreach (var folder in Directory.EnumerateDirectories("/proc"))
            {
                if (int.TryParse(Path.GetFileName(folder), out var pid) && pid != Environment.ProcessId
                    && CommandLine(pid) is { } commandLine && commandLine.Contains(wanted, StringComparison.Ordinal) && !IsZombie(pid))
                {
                    found.Add(pid);
                }
            }

            return found;
        }

        private static string? CommandLine(int pid)
        {
            try
            {
                return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
            }
            catch (IOException)
            {
                return null; // gone meanwhile
            }
        }

        private static bool IsZombie(int pid)
        {
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                return stat[(stat.LastIndexOf(')') + 2)..].StartsWith('Z');
            }
            catch (IOException)
            {
                return true;
            }
        }
    }
}
