using System.Diagnostics;
using AutoBuilder.Core.Builds;
using AutoBuilder.EndToEnd.Tests.Infrastructure;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>
/// Issue 18, findings 2 and 3, against a real root `autobuilder serve`: the workspace root is the server's own (a
/// squatted one stops start-up), and other local users can neither list it nor read a running build's folders.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")] // file modes, setpriv
public sealed class WorkspaceRootTests
{
    private const int Nobody = 65534;
    private const string NpmToken = "npm-Token-workspace-5150";

    [Fact]
    public async Task WorkspaceRoot_CreatedBeforehandByAnotherUser_MakesServeRefuseToStart_NamingTheFolderAndItsOwner()
    {
        Assert.True(Environment.IsPrivilegedProcess, "these tests run as root, like the server on the test machines");
        var root = TestPaths.NewTempDirectory("squatted-root");
        var squatted = Directory.CreateDirectory(Path.Combine(root, "workspaces")).FullName;
        File.SetUnixFileMode(squatted, (UnixFileMode)0x1FF); // 0777, as the other user made it
        await RunAsync("chown", $"{Nobody}:{Nobody}", squatted);
        try
        {
            var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => ServerProcess.StartAsync(Path.Combine(root, "data"),
                new Dictionary<string, string> { ["Executor:WorkspaceRoot"] = squatted }));

            var line = Assert.Single(refused.Message.Split('\n'), l => l.Contains("Executor:WorkspaceRoot", StringComparison.Ordinal));
            Assert.Contains($"'{squatted}'", line, StringComparison.Ordinal);
            Assert.Contains($"belongs to uid {Nobody} with mode 0777", line, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", refused.Message, StringComparison.Ordinal); // one line, no stack trace
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task DefaultWorkspaceRoot_AnotherLocalUser_CannotListIt_NorReadARunningBuildsSourceOrNpmrc()
    {
        Assert.True(Environment.IsPrivilegedProcess, "these tests run as root, like the server on the test machines");
        var root = TestPaths.NewTempDirectory("default-root");
        var data = Path.Combine(root, "data");
        try
        {
            await using var server = await ServerProcess.StartAsync(data, new Dictionary<string, string>
            {
                ["Executor:WorkspaceRoot"] = "", // the default: {data}/workspaces
                ["Toolchains:Npm:Registry"] = "https://registry.example.test/npm/",
                ["Toolchains:Npm:AuthToken"] = NpmToken,
            });
            using var client = server.CreateClient();
            var build = await ApiCalls.StartBuildAsync(client, $"ws-root-{Guid.NewGuid():N}"[..20], new Dictionary<string, string>
            {
                ["package.json"] = "{}",
                ["autobuilder.yml"] = "toolchain: npm\ncommand: echo READY; while [ ! -e \"$AUTOBUILDER_CACHE/go\" ]; do sleep 0.1; done\n",
            });
            await WaitForLogAsync(client, build.Id, "READY\n");
            var workspaces = Path.Combine(data, "workspaces");
            var running = await ApiCalls.GetBuildAsync(client, build.Id);
            var workspace = Path.Combine(workspaces, $"{build.Id}-{running.Attempt}");
            Assert.True(File.Exists(Path.Combine(workspace, "home", ".npmrc")), "the build's HOME holds the operator's npm token");

            foreach (var (tool, path) in new[]
                     {
                         ("ls", workspaces),
                         ("ls", workspace),
                         ("cat", Path.Combine(workspace, "src", "package.json")),
                         ("cat", Path.Combine(workspace, "home", ".npmrc")),
                         ("ls", Path.Combine(workspace, "tmp")),
                     })
            {
                var (exit, output) = await RunAsync("setpriv", $"--reuid={Nobody}", $"--regid={Nobody}", "--clear-groups", tool, path);
                Assert.True(exit != 0 && output.Contains("Permission denied", StringComparison.Ordinal), $"{tool} {path} as uid {Nobody}: exit {exit}: {output}");
                Assert.DoesNotContain(NpmToken, output, StringComparison.Ordinal);
            }

            await File.WriteAllTextAsync(Path.Combine(workspace, "cache", "go"), "");
            var ended = await ApiCalls.WaitForEndAsync(client, build.Id);
            Assert.True(ended.Status == BuildStatus.Succeeded, await ApiCalls.GetLogAsync(client, build.Id));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static async Task WaitForLogAsync(HttpClient client, string buildId, string text)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        while (!(await ApiCalls.GetLogAsync(client, buildId)).Contains(text, StringComparison.Ordinal))
        {
            Assert.False((await ApiCalls.GetBuildAsync(client, buildId)).Status.IsTerminal(), await ApiCalls.GetLogAsync(client, buildId));
            await Task.Delay(100, timeout.Token);
        }
    }

    private static async Task<(int Exit, string Output)> RunAsync(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }
}
