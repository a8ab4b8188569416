using System.CommandLine;
using System.IO.Compression;
using System.Text;
using AutoBuilder.Cli.Client;
using AutoBuilder.Cli.Commands;
using AutoBuilder.Core.Builds;
using AutoBuilder.Server.Hosting;
using AutoBuilder.Tests.Shared;
using Spectre.Console;

namespace AutoBuilder.Cli.Tests.Commands;

/// <summary>The client commands against the real AutoBuilder server (in process, with its dispatcher and real runners).</summary>
public sealed class ClientCommandsTests : IAsyncLifetime
{
    private const string Artifact = "pretend app.jar";
    private const string ArtifactYml = "outputs: [out/**]\nartifacts: [out/app.jar]\nversion: 1.0.0\n";
    private readonly TempFolder _temp = new();
    private readonly StringWriter _out = new();
    private readonly StringWriter _error = new();
    private readonly CancellationTokenSource _interrupt = new();
    private readonly List<InProcessServer> _otherServers = [];
    private Stream _rawStdout = new MemoryStream();
    private InProcessServer _server = null!;
    private string _apiKey = null!;

    public async Task InitializeAsync()
    {
        // Shared caches: a test hands a file to a running build through its project's cache folder.
        _server = await InProcessServer.StartAsync(settings: new Dictionary<string, string?> { ["Caches:Mode"] = "Shared" });
        _apiKey = await _server.CreateUserKeyAsync("alice");
    }

    public async Task DisposeAsync()
    {
        foreach (var server in _otherServers)
        {
            await server.DisposeAsync();
        }

        await _server.DisposeAsync();
        _temp.Dispose();
        _interrupt.Dispose();
    }

    [Fact]
    public async Task Build_SucceedingFolder_UploadsFollowsLogAndDownloadsVerifiedFiles()
    {
        var project = ScriptProject("My_Service", $"mkdir -p out; echo '[build] BUILD SUCCESS'; printf '{Artifact}' > out/app.jar; echo hello > out/hello.txt", ArtifactYml);
        Directory.CreateDirectory(Path.Combine(project, ".git"));
        File.WriteAllText(Path.Combine(project, ".git", "config"), "secret");
        var outFolder = _temp.Combine("out");

        var exitCode = await RunAsync("build", project, "--out", outFolder);

        Assert.Equal(ExitCodes.Success, exitCode);
        var build = Assert.Single(await Client().GetBuildsAsync("my-service"));
        Assert.Equal(BuildStatus.Succeeded, build.Status);
        using (var uploaded = ZipFile.OpenRead(_server.BlobPath("uploads", $"my-service/{build.SourceId}/source.zip")))
        {
            Assert.Equal(["autobuilder.yml", "build.sh"], uploaded.Entries.Select(e => e.FullName).Order());
        }

        var log = await _server.GetLogAsync(build.Id);
        Assert.Contains("[build] BUILD SUCCESS\n", log, StringComparison.Ordinal);
        Assert.Equal(log, Encoding.UTF8.GetString(((MemoryStream)_rawStdout).ToArray()));
        Assert.Equal(
            await File.ReadAllBytesAsync(_server.BlobPath("projects", "my-service/builds/1/result.zip")),
            await File.ReadAllBytesAsync(Path.Combine(outFolder, "result.zip")));
        Assert.Equal(Artifact, await File.ReadAllTextAsync(Path.Combine(outFolder, "artifacts", "1.0.0", "app.jar")));
        Assert.Contains("succeeded", _out.ToString(), StringComparison.Ordinal);
        Assert.Contains(build.Durations.Build!.Value.ToString("0.00 s", System.Globalization.CultureInfo.InvariantCulture), _out.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Build_ZipFile_UploadsItsBytesAsIs()
    {
        var zip = _temp.Combine("Demo.zip");
        using (var archive = ZipFile.Open(zip, ZipArchiveMode.Create))
        using (var writer = new StreamWriter(archive.CreateEntry("build.sh").Open()))
        {
            writer.Write("echo zipped\n");
        }

        var bytes = await File.ReadAllBytesAsync(zip);

        var exitCode = await RunAsync("build", zip, "--no-download");

        Assert.Equal(ExitCodes.Success, exitCode);
        var build = Assert.Single(await Client().GetBuildsAsync("demo"));
        Assert.Equal(bytes, await File.ReadAllBytesAsync(_server.BlobPath("uploads", $"demo/{build.SourceId}/source.zip")));
        // --no-download: nothing in the folder the CLI runs in, where it would have written autobuilder-out/demo/1.
        Assert.Equal([zip], Directory.EnumerateFileSystemEntries(_temp.Path));

        // Positive control: the build has a result, and without --out the CLI writes it exactly there.
        Assert.Equal(ExitCodes.Success, await RunAsync("download", build.Id));
        Assert.True(File.Exists(Path.Combine(_temp.Path, "autobuilder-out", "demo", "1", "result.zip")), "download wrote no result.zip into autobuilder-out/demo/1");
    }

    [Fact]
    public async Task Build_NotAZip_ExitsTwoWithTheServersBadRequest()
    {
        var zip = _temp.Combine("Demo.zip");
        await File.WriteAllTextAsync(zip, "not even a real zip");

        var exitCode = await RunAsync("build", zip, "--no-download");

        Assert.Equal(ExitCodes.Error, exitCode);
        Assert.Contains("400 ", _error.ToString(), StringComparison.Ordinal);
        Assert.Empty(await Client().GetBuildsAsync("demo"));
    }

    [Fact]
    public async Task Build_FailedBuild_ExitsOneAndDownloadsNothing()
    {
        var project = ScriptProject("app", "echo broken; exit 1");
        var outFolder = _temp.Combine("out");

        var exitCode = await RunAsync("build", project, "--out", outFolder);

        Assert.Equal(ExitCodes.BuildFailed, exitCode);
        Assert.False(Directory.Exists(outFolder));
        Assert.Contains("build command exited with code 1", _out.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Build_ThreeStepsSecondFails_ShowsEachStepsStatusExitCodeAndDuration()
    {
        var project = ScriptProject("steps", "exit 99", """
            steps:
              - {name: compile, run: echo compiled}
              - {name: unit-tests, run: exit 5}
              - {name: package, run: echo packaged}
            """);

        var exitCode = await RunAsync("build", project, "--no-download");

        Assert.Equal(ExitCodes.BuildFailed, exitCode);
        var build = await Client().GetBuildAsync(Assert.Single(await Client().GetBuildsAsync("steps")).Id);
        Assert.Equal([StepStatus.Succeeded, StepStatus.Failed, StepStatus.Skipped], build.Steps.Select(s => s.Status));
        var lines = _out.ToString().Split('\n');
        AssertStepRow(lines, "1", "compile", "succeeded", "0", Seconds(build.Steps[0].DurationSeconds));
        AssertStepRow(lines, "2", "unit-tests", "failed", "5", Seconds(build.Steps[1].DurationSeconds));
        AssertStepRow(lines, "3", "package", "skipped", "", "-");

        // status shows the same table.
        _out.GetStringBuilder().Clear();
        Assert.Equal(ExitCodes.BuildFailed, await RunAsync("status", build.Id));
        AssertStepRow(_out.ToString().Split('\n'), "2", "unit-tests", "failed", "5", Seconds(build.Steps[1].DurationSeconds));
    }

    [Fact]
    public async Task Status_StepRunning_ShowsWhichStepRuns()
    {
        // The step waits for a file in its own source folder (which a sandboxed build sees), written by the test.
        var id = await StartBuildAsync("exit 99", """
            steps:
              - {name: first, run: "true"}
              - {name: waiting, run: "while [ ! -f release ]; do sleep 0.1; done"}
              - {name: last, run: "true"}
            """);
        var release = Path.Combine(Path.GetDirectoryName(_server.DataDirectory)!, "workspaces", $"{id}-1", "src", "release");
        try
        {
            Assert.True(await TestWaitUntilAsync(async () => (await Client().GetBuildAsync(id)).Steps is [_, { Status: StepStatus.Running }, _]), "the step never ran");

            Assert.Equal(ExitCodes.Success, await RunAsync("status", id));

            var lines = _out.ToString().Split('\n');
            AssertStepRow(lines, "2", "waiting", "running", "", "since ");
            AssertStepRow(lines, "3", "last", "pending", "", "-");
        }
        finally
        {
            await File.WriteAllTextAsync(release, "");
            await _server.WaitForEndAsync(id);
        }
    }

    /// <summary>One row of the steps table: its cells, in order, separated by the table's borders.</summary>
    private static void AssertStepRow(string[] lines, string number, string name, string status, string exit, string duration)
    {
        var row = Assert.Single(lines, l => Cells(l) is [var n, var s, ..] && n == number && s == name);
        var cells = Cells(row);
        Assert.Equal((status, exit), (cells[2], cells[3]));
        Assert.StartsWith(duration, cells[4], StringComparison.Ordinal);
    }

    private static string[] Cells(string line) =>
        line.Trim().StartsWith('│') ? [.. line.Trim().Trim('│').Split('│').Select(c => c.Trim())] : [];

    private static string Seconds(double? value) => value!.Value.ToString("0.00 s", System.Globalization.CultureInfo.InvariantCulture);

    private static async Task<bool> TestWaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            await Task.Delay(50);
        }

        return true;
    }

    [Fact]
    public async Task Download_ArtifactCorruptInStorage_ExitsTwoAndKeepsNoCorruptFile()
    {
        var project = ScriptProject("app", $"mkdir -p out; printf '{Artifact}' > out/app.jar", ArtifactYml);
        Assert.Equal(ExitCodes.Success, await RunAsync("build", project, "--no-download"));
        var build = Assert.Single(await Client().GetBuildsAsync("app"));
        // Storage rots after the build: the promoted artifact no longer matches the checksum the server recorded.
        await File.WriteAllTextAsync(_server.BlobPath("artifacts", "app/1.0.0/app.jar"), "rotten bytes");
        var outFolder = _temp.Combine("out");

        var exitCode = await RunAsync("download", build.Id, "--out", outFolder);

        Assert.Equal(ExitCodes.Error, exitCode);
        Assert.Contains("corrupt", _error.ToString(), StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(outFolder, "artifacts"), "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task Build_NameWithoutValidId_ExitsTwoWithoutCallingTheServer()
    {
        var project = Directory.CreateDirectory(_temp.Combine("프로젝트")).FullName;

        var exitCode = await RunAsync("build", project);

        Assert.Equal(ExitCodes.Error, exitCode);
        Assert.Contains("--project", _error.ToString(), StringComparison.Ordinal);
        Assert.Empty(await Client().GetProjectsAsync());
    }

    [Fact]
    public async Task Build_ServerRefusesProject_ExitsTwoAndPrintsTitleAndDetail()
    {
        using (var bob = AutoBuilderClient.Create(new ClientSettings(_server.Url, await _server.CreateUserKeyAsync("bob"))))
        {
            await bob.PutProjectAsync("taken");
        }

        var project = ScriptProject("taken", "echo hi");

        var exitCode = await RunAsync("build", project);

        Assert.Equal(ExitCodes.Error, exitCode);
        Assert.Contains("409 Project id not available", _error.ToString(), StringComparison.Ordinal);
        Assert.Contains("'taken' is taken", _error.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(BuildStatus.Succeeded, ExitCodes.Success)]
    [InlineData(BuildStatus.Running, ExitCodes.Success)]
    [InlineData(BuildStatus.Queued, ExitCodes.Success)]
    [InlineData(BuildStatus.Failed, ExitCodes.BuildFailed)]
    [InlineData(BuildStatus.TimedOut, ExitCodes.BuildFailed)]
    [InlineData(BuildStatus.Cancelled, ExitCodes.BuildFailed)]
    public async Task Status_BuildInState_ExitCodeReflectsIt(BuildStatus status, int expected)
    {
        var (server, buildId) = await BuildInStateAsync(status);
        Assert.Equal(status, (await server.GetBuildAsync(buildId)).Status);

        Assert.Equal(expected, await RunAsync(server, "status", buildId));
        Assert.Contains(status.ToWire(), _out.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_UnknownBuild_ExitsTwoWithProblemTitle()
    {
        Assert.Equal(ExitCodes.Error, await RunAsync("status", "ffffffffffffffffffffffffffffffff"));
        Assert.Contains("404 Build not found", _error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_WrongKey_ExitsTwoWithUnauthorized()
    {
        var exitCode = await RunAsync(new Dictionary<string, string> { [ClientSettings.ApiKeyVariable] = "wrong" }, "projects");

        Assert.Equal(ExitCodes.Error, exitCode);
        Assert.Contains("401 Unauthorized", _error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Download_NoResult_WritesOnlyArtifacts()
    {
        var project = ScriptProject("app", $"mkdir -p out; printf '{Artifact}' > out/app.jar", ArtifactYml);
        Assert.Equal(ExitCodes.Success, await RunAsync("build", project, "--no-download"));
        var build = Assert.Single(await Client().GetBuildsAsync("app"));
        // A build without result.zip in storage (the server then answers 404 "No result").
        File.Delete(_server.BlobPath("projects", "app/builds/1/result.zip"));
        var outFolder = _temp.Combine("dl");

        var exitCode = await RunAsync("download", build.Id, "--out", outFolder);

        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.False(File.Exists(Path.Combine(outFolder, "result.zip")));
        Assert.Equal(Artifact, await File.ReadAllTextAsync(Path.Combine(outFolder, "artifacts", "1.0.0", "app.jar")));
    }

    [Fact]
    public async Task Rerun_BuildsTheSameSourceWithTheSameSettings_AndFollowsIt()
    {
        var project = ScriptProject("again", "echo \"build number $AUTOBUILDER_BUILD_NUMBER\"; mkdir -p out; printf '{Artifact}' > out/app.jar", ArtifactYml);
        Assert.Equal(ExitCodes.Success, await RunAsync("build", project, "--no-download"));
        var first = Assert.Single(await Client().GetBuildsAsync("again"));

        var exitCode = await RunAsync("rerun", first.Id, "--follow");

        Assert.Equal(ExitCodes.Success, exitCode);
        var builds = await Client().GetBuildsAsync("again");
        var second = Assert.Single(builds, b => b.Id != first.Id);
        Assert.Equal(first.SourceId, second.SourceId);
        Assert.Equal(2, second.Number);
        Assert.Equal(BuildStatus.Succeeded, second.Status);
        Assert.Contains(second.Id, _out.ToString(), StringComparison.Ordinal);
        Assert.Contains("build number 2", await _server.GetLogAsync(second.Id), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rerun_UnknownBuild_ExitsTwoWithProblemTitle()
    {
        Assert.Equal(ExitCodes.Error, await RunAsync("rerun", "ffffffffffffffffffffffffffffffff"));
        Assert.Contains("404 Build not found", _error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Projects_Listed_PrintsTable()
    {
        await Client().PutProjectAsync("demo");

        Assert.Equal(ExitCodes.Success, await RunAsync("projects"));
        Assert.Contains("demo", _out.ToString(), StringComparison.Ordinal);
        Assert.Contains("alice", _out.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Logs_ByteForByte_WritesLogUninterpreted()
    {
        var build = await StartBuildAsync("echo '[red]x[/] stays as written'");
        await _server.WaitForEndAsync(build);

        Assert.Equal(ExitCodes.Success, await RunAsync("logs", build));
        var written = Encoding.UTF8.GetString(((MemoryStream)_rawStdout).ToArray());
        Assert.Contains("[red]x[/] stays as written\n", written, StringComparison.Ordinal);
        Assert.Equal(await _server.GetLogAsync(build), written);
    }

    /// <summary>A build that prints a window title, colours, a screen clear, a lone carriage return and a bell.</summary>
    private const string TerminalHostileScript = "printf '\\033]0;owned\\007\\033[31mred\\033[0m\\033[2J\\rback\\007 done\\n'";

    [Fact]
    public async Task Logs_EscapeSequencesInTheLog_AreNotSentToTheTerminal()
    {
        var build = await StartBuildAsync(TerminalHostileScript);
        await _server.WaitForEndAsync(build);

        Assert.Equal(ExitCodes.Success, await RunAsync("logs", build));
        var written = Encoding.UTF8.GetString(((MemoryStream)_rawStdout).ToArray());
        Assert.Contains("\u001b]0;owned", await _server.GetLogAsync(build), StringComparison.Ordinal);
        Assert.Contains("red\nback\\u0007 done\n", written, StringComparison.Ordinal);
        Assert.DoesNotContain('\u001b', written);
        Assert.DoesNotContain('\r', written);
        Assert.DoesNotContain('\u0007', written);
    }

    [Fact]
    public async Task Logs_Raw_WritesTheStoredBytesAsTheyAre()
    {
        var build = await StartBuildAsync(TerminalHostileScript);
        await _server.WaitForEndAsync(build);

        Assert.Equal(ExitCodes.Success, await RunAsync("logs", "--raw", build));
        var written = Encoding.UTF8.GetString(((MemoryStream)_rawStdout).ToArray());
        Assert.Contains("\u001b]0;owned\u0007\u001b[31mred\u001b[0m\u001b[2J\rback\u0007 done\n", written, StringComparison.Ordinal);
        Assert.Equal(await _server.GetLogAsync(build), written);
    }

    [Fact]
    public async Task Build_EscapeSequencesInTheLog_AreNotSentToTheTerminalUnlessRaw()
    {
        var project = ScriptProject("term", TerminalHostileScript);

        Assert.Equal(ExitCodes.Success, await RunAsync("build", project, "--no-download"));
        var followed = Encoding.UTF8.GetString(((MemoryStream)_rawStdout).ToArray());
        _rawStdout = new MemoryStream();
        Assert.Equal(ExitCodes.Success, await RunAsync("build", project, "--no-download", "--raw"));
        var raw = Encoding.UTF8.GetString(((MemoryStream)_rawStdout).ToArray());

        Assert.Contains("red\nback\\u0007 done\n", followed, StringComparison.Ordinal);
        Assert.DoesNotContain('\u001b', followed);
        Assert.DoesNotContain('\r', followed);
        var second = (await Client().GetBuildsAsync("term")).Single(b => b.Number == 2);
        Assert.Equal(await _server.GetLogAsync(second.Id), raw);
    }

    [Fact]
    public async Task Logs_FollowInterrupted_StopsFollowingAndTheBuildGoesOn()
    {
        // In the project's cache folder: the one host folder outside its workspace a sandboxed build sees.
        var cache = Directory.CreateDirectory(Path.Combine(_server.DataDirectory, "cache", "projects", "demo")).FullName;
        var release = Path.Combine(cache, $"release-{Guid.NewGuid():N}");
        var build = await StartBuildAsync($"echo first line; while [ ! -f {release} ]; do sleep 0.1; done");
        var received = new MemoryStream();
        _rawStdout = new ProgressStream(received, _ => _interrupt.Cancel(), leaveOpen: true); // Ctrl+C once output arrives

        var exitCode = await RunAsync("logs", "-f", build);

        Assert.Equal(ExitCodes.Interrupted, exitCode);
        Assert.NotEqual(0, received.Length);
        Assert.StartsWith(Encoding.UTF8.GetString(received.ToArray()), await _server.GetLogAsync(build), StringComparison.Ordinal);
        Assert.Contains("stopped following the log", _error.ToString(), StringComparison.Ordinal);
        Assert.Contains("keeps running on the server", _error.ToString(), StringComparison.Ordinal);
        Assert.Equal(BuildStatus.Running, (await _server.GetBuildAsync(build)).Status);

        await File.WriteAllTextAsync(release, "");
        Assert.Equal(BuildStatus.Succeeded, (await _server.WaitForEndAsync(build)).Status);
        Assert.Contains("first line\n", await _server.GetLogAsync(build), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnyCommand_NoApiKey_ExitsTwoTellingWhatToSet()
    {
        var exitCode = await RunAsync(new Dictionary<string, string>(), "projects", "--data", _temp.Path);

        Assert.Equal(ExitCodes.Error, exitCode);
        Assert.Contains(ClientSettings.ApiKeyVariable, _error.ToString(), StringComparison.Ordinal);
    }

    private AutoBuilderClient Client() => AutoBuilderClient.Create(new ClientSettings(_server.Url, _apiKey));

    private string ScriptProject(string name, string buildSh, string? yml = null)
    {
        var project = Directory.CreateDirectory(_temp.Combine(name)).FullName;
        File.WriteAllText(Path.Combine(project, "build.sh"), buildSh + "\n");
        if (yml is not null)
        {
            File.WriteAllText(Path.Combine(project, "autobuilder.yml"), yml);
        }

        return project;
    }

    /// <summary>Uploads a one-script build through the API as alice; returns its id without waiting.</summary>
    private Task<string> StartBuildAsync(string buildSh, string? yml = null) => StartBuildAsync(_server, buildSh, yml);

    private async Task<string> StartBuildAsync(InProcessServer server, string buildSh, string? yml = null)
    {
        using var zip = new MemoryStream();
        using (var archive = new ZipArchive(zip, ZipArchiveMode.Create, leaveOpen: true))
        {
            using (var writer = new StreamWriter(archive.CreateEntry("build.sh").Open()))
            {
                writer.Write(buildSh + "\n");
            }

            if (yml is not null)
            {
                using var writer = new StreamWriter(archive.CreateEntry("autobuilder.yml").Open());
                writer.Write(yml);
            }
        }

        using var client = server.Client(server == _server ? _apiKey : server.AdminKey);
        return (await server.StartBuildAsync("demo", zip.ToArray(), client)).Id;
    }

    /// <summary>A real build that has really reached <paramref name="status"/>, on the server that holds it.</summary>
    private async Task<(InProcessServer Server, string BuildId)> BuildInStateAsync(BuildStatus status)
    {
        var release = _temp.Combine("release");
        var blocking = $"while [ ! -f {release} ]; do sleep 0.1; done";
        switch (status)
        {
            case BuildStatus.Queued:
                // A server without a dispatcher: the build stays queued.
                var apiOnly = await InProcessServer.StartAsync(ServerRole.Api);
                _otherServers.Add(apiOnly);
                return (apiOnly, await StartBuildAsync(apiOnly, "echo never runs"));
            case BuildStatus.Running:
            {
                var id = await StartBuildAsync(blocking);
                await _server.WaitForStatusAsync(id, BuildStatus.Running);
                return (_server, id);
            }

            case BuildStatus.Cancelled:
            {
                var id = await StartBuildAsync(blocking);
                await _server.WaitForStatusAsync(id, BuildStatus.Running);
                await Client().CancelBuildAsync(id);
                await _server.WaitForEndAsync(id);
                return (_server, id);
            }

            default:
            {
                var id = status switch
                {
                    BuildStatus.Succeeded => await StartBuildAsync("echo ok"),
                    BuildStatus.Failed => await StartBuildAsync("exit 3"),
                    BuildStatus.TimedOut => await StartBuildAsync("sleep 1000", "timeout: 1s\n"),
                    _ => throw new ArgumentOutOfRangeException(nameof(status)),
                };
                await _server.WaitForEndAsync(id);
                return (_server, id);
            }
        }
    }

    private Task<int> RunAsync(params string[] args) =>
        RunAsync(new Dictionary<string, string> { [ClientSettings.ApiKeyVariable] = _apiKey }, args);

    private Task<int> RunAsync(InProcessServer server, params string[] args) =>
        RunAsync(server, new Dictionary<string, string> { [ClientSettings.ApiKeyVariable] = server == _server ? _apiKey : server.AdminKey }, args);

    private Task<int> RunAsync(Dictionary<string, string> environment, params string[] args) => RunAsync(_server, environment, args);

    private async Task<int> RunAsync(InProcessServer server, Dictionary<string, string> environment, params string[] args)
    {
        var console = new ClientConsole(
            CreateConsole(_out),
            CreateConsole(_error),
            () => _rawStdout,
            name => name == ClientSettings.ServerVariable ? server.Url.ToString() : environment.GetValueOrDefault(name),
            interactive: false)
        {
            // The folder the CLI "runs in": relative output folders (the default autobuilder-out/...) land here, not in the test's bin folder.
            WorkingDirectory = _temp.Path,
        };
        var root = new RootCommand();
        foreach (var command in ClientCommands.Create(console))
        {
            root.Subcommands.Add(command);
        }

        return await root.Parse(args).InvokeAsync(cancellationToken: _interrupt.Token);
    }

    private static IAnsiConsole CreateConsole(TextWriter writer)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
        });
        console.Profile.Width = 400; // no wrapping inside the messages the tests look for
        return console;
    }
}
