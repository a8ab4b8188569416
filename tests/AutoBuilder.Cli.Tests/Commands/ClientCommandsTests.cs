using System.CommandLine;
using System.IO.Compression;
using System.Text;
using AutoBuilder.Cli.Client;
using AutoBuilder.Cli.Commands;
using AutoBuilder.Core.Builds;
using Spectre.Console;

namespace AutoBuilder.Cli.Tests.Commands;

public sealed class ClientCommandsTests : IAsyncLifetime
{
    private readonly TempFolder _temp = new();
    private readonly StringWriter _out = new();
    private readonly StringWriter _error = new();
    private readonly CancellationTokenSource _interrupt = new();
    private Stream _rawStdout = new MemoryStream();
    private FakeAutoBuilderServer _server = null!;

    public async Task InitializeAsync() => _server = await FakeAutoBuilderServer.StartAsync();

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _temp.Dispose();
        _interrupt.Dispose();
    }

    [Fact]
    public async Task Build_SucceedingFolder_UploadsFollowsLogAndDownloadsVerifiedFiles()
    {
        var project = Directory.CreateDirectory(_temp.Combine("My_Service")).FullName;
        File.WriteAllText(Path.Combine(project, "pom.xml"), "<project/>");
        Directory.CreateDirectory(Path.Combine(project, ".git"));
        File.WriteAllText(Path.Combine(project, ".git", "config"), "secret");
        var outFolder = _temp.Combine("out");

        var exitCode = await RunAsync("build", project, "--out", outFolder);

        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.Contains(_server.Requests, r => r.Method == "PUT" && r.Path == "/api/v1/projects/my-service");
        using (var uploaded = new ZipArchive(new MemoryStream(_server.LastUpload!)))
        {
            Assert.Equal(["pom.xml"], uploaded.Entries.Select(e => e.FullName));
        }

        Assert.Equal(string.Concat(_server.LogChunks), Encoding.UTF8.GetString(((MemoryStream)_rawStdout).ToArray()));
        Assert.Equal(_server.ResultZip, await File.ReadAllBytesAsync(Path.Combine(outFolder, "result.zip")));
        Assert.Equal(_server.Artifact, await File.ReadAllBytesAsync(Path.Combine(outFolder, "artifacts", "1.0.0", "app.jar")));
        Assert.Contains("succeeded", _out.ToString(), StringComparison.Ordinal);
        Assert.Contains("3.50 s", _out.ToString(), StringComparison.Ordinal); // the build phase's duration
    }

    [Fact]
    public async Task Build_ZipFile_UploadsItsBytesAsIs()
    {
        var zip = _temp.Combine("Demo.zip");
        var bytes = Encoding.UTF8.GetBytes("not even a real zip: uploaded untouched");
        await File.WriteAllBytesAsync(zip, bytes);

        var exitCode = await RunAsync("build", zip, "--no-download");

        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.Equal(bytes, _server.LastUpload);
        Assert.Contains(_server.Requests, r => r.Method == "PUT" && r.Path == "/api/v1/projects/demo");
        Assert.DoesNotContain(_server.Requests, r => r.Path.StartsWith("/blobs/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Build_FailedBuild_ExitsOneAndDownloadsNothing()
    {
        _server.FinalStatus = BuildStatus.Failed;
        var project = Directory.CreateDirectory(_temp.Combine("app")).FullName;
        File.WriteAllText(Path.Combine(project, "build.sh"), "exit 1");
        var outFolder = _temp.Combine("out");

        var exitCode = await RunAsync("build", project, "--out", outFolder);

        Assert.Equal(ExitCodes.BuildFailed, exitCode);
        Assert.False(Directory.Exists(outFolder));
        Assert.Contains("mvn exited with 1", _out.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Build_ArtifactChecksumMismatch_ExitsTwoAndKeepsNoCorruptFile()
    {
        _server.ClaimedArtifactSha256 = new string('0', 64);
        var project = Directory.CreateDirectory(_temp.Combine("app")).FullName;
        File.WriteAllText(Path.Combine(project, "build.sh"), "true");
        var outFolder = _temp.Combine("out");

        var exitCode = await RunAsync("build", project, "--out", outFolder);

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
        Assert.Empty(_server.Requests);
    }

    [Fact]
    public async Task Build_ServerRefusesProject_ExitsTwoAndPrintsTitleAndDetail()
    {
        var project = Directory.CreateDirectory(_temp.Combine("forbidden")).FullName;

        var exitCode = await RunAsync("build", project);

        Assert.Equal(ExitCodes.Error, exitCode);
        Assert.Contains("403 Project belongs to someone else", _error.ToString(), StringComparison.Ordinal);
        Assert.Contains("owned by another user", _error.ToString(), StringComparison.Ordinal);
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
        _server.FinalStatus = status;

        Assert.Equal(expected, await RunAsync("status", FakeAutoBuilderServer.BuildId));
        Assert.Contains(status.ToWire(), _out.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_UnknownBuild_ExitsTwoWithProblemTitle()
    {
        Assert.Equal(ExitCodes.Error, await RunAsync("status", "ffffffffffffffffffffffffffffffff"));
        Assert.Contains("404 Build not found", _error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Download_NoResult_WritesOnlyArtifacts()
    {
        _server.HasResult = false;
        var outFolder = _temp.Combine("dl");

        var exitCode = await RunAsync("download", FakeAutoBuilderServer.BuildId, "--out", outFolder);

        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.False(File.Exists(Path.Combine(outFolder, "result.zip")));
        Assert.True(File.Exists(Path.Combine(outFolder, "artifacts", "1.0.0", "app.jar")));
    }

    [Fact]
    public async Task Projects_Listed_PrintsTable()
    {
        Assert.Equal(ExitCodes.Success, await RunAsync("projects"));
        Assert.Contains("demo", _out.ToString(), StringComparison.Ordinal);
        Assert.Contains("admin", _out.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Logs_ByteForByte_WritesLogUninterpreted()
    {
        _server.LogChunks = ["[red]x[/] stays as written\n"];

        Assert.Equal(ExitCodes.Success, await RunAsync("logs", FakeAutoBuilderServer.BuildId));
        Assert.Equal("[red]x[/] stays as written\n", Encoding.UTF8.GetString(((MemoryStream)_rawStdout).ToArray()));
    }

    [Fact]
    public async Task Logs_FollowInterrupted_StopsFollowingAndSaysTheBuildGoesOn()
    {
        _server.LogChunks = ["first line\n"];
        _server.KeepLogOpen = true;
        var received = new MemoryStream();
        _rawStdout = new ProgressStream(received, _ => _interrupt.Cancel(), leaveOpen: true); // Ctrl+C once output arrives

        var exitCode = await RunAsync("logs", "-f", FakeAutoBuilderServer.BuildId);

        Assert.Equal(ExitCodes.Interrupted, exitCode);
        Assert.Equal("first line\n", Encoding.UTF8.GetString(received.ToArray()));
        Assert.Contains("stopped following the log", _error.ToString(), StringComparison.Ordinal);
        Assert.Contains("keeps running on the server", _error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnyCommand_NoApiKey_ExitsTwoTellingWhatToSet()
    {
        var exitCode = await RunAsync(new Dictionary<string, string>(), "projects", "--data", _temp.Path);

        Assert.Equal(ExitCodes.Error, exitCode);
        Assert.Contains(ClientSettings.ApiKeyVariable, _error.ToString(), StringComparison.Ordinal);
    }

    private Task<int> RunAsync(params string[] args) =>
        RunAsync(new Dictionary<string, string> { [ClientSettings.ApiKeyVariable] = FakeAutoBuilderServer.ApiKey }, args);

    private async Task<int> RunAsync(Dictionary<string, string> environment, params string[] args)
    {
        var console = new ClientConsole(
            CreateConsole(_out),
            CreateConsole(_error),
            () => _rawStdout,
            name => name == ClientSettings.ServerVariable ? _server.Url.ToString() : environment.GetValueOrDefault(name),
            interactive: false);
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
