using System.Diagnostics;
using AutoBuilder.EndToEnd.Tests.Infrastructure;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>The README's first screen works as written.</summary>
public sealed class ReadmeTests
{
    private static readonly string[] ReadmeLines = File.ReadAllLines(Path.Combine(TestPaths.RepoRoot, "README.md"));

    [Fact]
    public void Readme_FirstScreen_GivesExactlyTheServeAndTestCommands()
    {
        var firstScreen = ReadmeLines.Take(30).ToList();
        var commands = firstScreen.Where(l => l.StartsWith("apt-get ", StringComparison.Ordinal) || l.StartsWith("dotnet ", StringComparison.Ordinal) || l.StartsWith("bash ", StringComparison.Ordinal)).ToList();

        Assert.Equal(2, commands.Count);
        Assert.Contains(" serve", commands[0], StringComparison.Ordinal);
        // A newcomer's server is sandboxed, with Egress (issue 18, finding 4): the first command installs both.
        Assert.StartsWith("apt-get install -y bubblewrap slirp4netns && dotnet run ", commands[0], StringComparison.Ordinal);
        Assert.StartsWith("bash scripts/test.sh", commands[1], StringComparison.Ordinal);
        Assert.Contains("scripts/test.sh", File.ReadAllText(Path.Combine(TestPaths.RepoRoot, ".ci", "run")), StringComparison.Ordinal);
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task ReadmeServeCommand_AsWritten_StartsAHealthyServer()
    {
        var command = ReadmeLines.First(l => l.Contains("dotnet run", StringComparison.Ordinal) && l.Contains(" serve", StringComparison.Ordinal)).Split('#')[0].Trim();
        var data = TestPaths.NewTempDirectory("readme");
        var startInfo = new ProcessStartInfo("bash") { WorkingDirectory = TestPaths.RepoRoot, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        startInfo.ArgumentList.Add("-c");
        startInfo.ArgumentList.Add(command); // a list (install && serve): bash stays its parent, killed with the tree below.
        // Only where the data lives and which port it takes differ from the README's defaults, so tests never collide.
        startInfo.Environment["AUTOBUILDER_DATA"] = data;
        startInfo.Environment["AUTOBUILDER_URLS"] = "http://127.0.0.1:0";

        using var process = Process.Start(startInfo)!;
        try
        {
            string? url = null;
            var output = new System.Text.StringBuilder();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            while (url is null && await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            {
                output.AppendLine(line);
                const string marker = "AutoBuilder listening on ";
                var at = line.IndexOf(marker, StringComparison.Ordinal);
                url = at < 0 ? null : line[(at + marker.Length)..].Split(' ')[0];
            }

            Assert.NotNull(url);
            Assert.Contains("Builds run sandboxed in bubblewrap", output.ToString(), StringComparison.Ordinal);
            using var client = new HttpClient { BaseAddress = new Uri(url) };
            Assert.Equal("ok", (await client.GetStringAsync("healthz")).Trim());
            Assert.True(File.Exists(Path.Combine(data, "admin.key")));
            var mode = File.GetUnixFileMode(Path.Combine(data, "admin.key"));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, mode);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            Directory.Delete(data, recursive: true);
        }
    }
}
