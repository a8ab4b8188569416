using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using AutoBuilder.Core;
using AutoBuilder.Core.Api;
using AutoBuilder.Core.Builds;
using AutoBuilder.Core.Protocol;
using AutoBuilder.EndToEnd.Tests.Infrastructure;
using AutoBuilder.Server.Auth;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>A server whose rate limit stays out of the way of the hostile corpus.</summary>
public sealed class HostileBuildServerFixture : ServerFixture
{
    protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        ["RateLimits:PermitsPerSecond"] = "1000",
        ["RateLimits:Burst"] = "1000",
    };
}

/// <summary>
/// The hostile-build corpus of issue 12 (validation, archives, headers, file modes) and the security claims of
/// docs/SECURITY.md that no other test held: one test per finding, each failing on the code before its fix.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")] // file modes, /proc, setpriv
public sealed class HostileBuildTests(HostileBuildServerFixture fixture) : IClassFixture<HostileBuildServerFixture>
{
    private const int SymlinkMode = unchecked((int)0xA1FF0000); // S_IFLNK | 0777, in the high 16 bits

    private static string NewProjectId(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..24];

    [Fact]
    public async Task ProjectIdWithATrailingLineFeed_Is400Problem_AndCreatesNothing()
    {
        using var client = fixture.Server.CreateClient();

        using var response = await client.PutAsync("api/v1/projects/abc%0A", null);

        await BadInputTests.AssertProblemAsync(response, HttpStatusCode.BadRequest, "Invalid project id", "PUT abc%0A");
        Assert.Contains("'abc\\n'", Detail(await response.Content.ReadAsStringAsync()), StringComparison.Ordinal);
        var projects = (await client.GetFromJsonAsync<ProjectDto[]>(ApiRoutes.Projects, AutoBuilderJson.Options))!;
        Assert.DoesNotContain(projects, p => p.Id.StartsWith("abc", StringComparison.Ordinal));
    }

    [Fact]
    public async Task UserNameWithATrailingLineFeed_Is400Problem_AndCreatesNoKey()
    {
        using var client = fixture.Server.CreateClient();

        using var response = await client.PostAsync("api/v1/users/bob%0A/keys", null);

        await BadInputTests.AssertProblemAsync(response, HttpStatusCode.BadRequest, "Invalid user name", "POST users/bob%0A/keys");
        var keys = (await client.GetFromJsonAsync<ApiKeyDto[]>(ApiRoutes.Keys, AutoBuilderJson.Options))!;
        Assert.DoesNotContain(keys, k => k.User.StartsWith("bob", StringComparison.Ordinal));
    }

    [Fact]
    public async Task VersionWithATrailingLineFeed_FailsTheBuildOnceNamingTheVersion()
    {
        using var client = fixture.Server.CreateClient();
        var build = await ApiCalls.StartBuildAsync(client, NewProjectId("version"), new Dictionary<string, string>
        {
            ["build.sh"] = "mkdir -p out && echo art > out/app.txt\n",
            ["autobuilder.yml"] = "outputs: [out/**]\nartifacts: [out/app.txt]\nversion: \"1.0.0\\n\"\n",
        });

        var done = await ApiCalls.WaitForEndAsync(client, build.Id);

        Assert.Equal(BuildStatus.Failed, done.Status);
        Assert.Equal(1, done.Attempt);
        Assert.Contains("version '1.0.0\\n'", done.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunnerEndpoints_InvalidVersionOrArtifactName_Answer400Problem_NotA500()
    {
        using var client = fixture.Server.CreateClient();
        var build = await ApiCalls.StartBuildAsync(client, NewProjectId("runner"), new Dictionary<string, string> { ["build.sh"] = "sleep 300\n" });
        await ApiCalls.WaitForAsync(client, build.Id, b => b.Phase == BuildPhase.Building);
        var token = new BuildTokenService(ServerSecrets.Load(null, fixture.Server.DataDirectory)).Issue(build.Id, 1);
        using var runner = new HttpClient { BaseAddress = fixture.Server.Url };
        runner.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);

        try
        {
            using var upload = await runner.PostAsync(RunnerRoutes.Uploads(build.Id),
                JsonContent.Create(new UploadRequest(UploadKind.Artifact, "x.tar.gz\n"), options: AutoBuilderJson.Options));
            await BadInputTests.AssertProblemAsync(upload, HttpStatusCode.BadRequest, "Invalid artifact name", "artifact 'x.tar.gz\\n'");
            Assert.Contains("'x.tar.gz\\n'", Detail(await upload.Content.ReadAsStringAsync()), StringComparison.Ordinal);

            using var complete = await runner.PostAsync(RunnerRoutes.Complete(build.Id),
                JsonContent.Create(new CompleteRequest { Outcome = BuildOutcome.Succeeded, Version = "1.0.0\n" }, options: AutoBuilderJson.Options));
            await BadInputTests.AssertProblemAsync(complete, HttpStatusCode.BadRequest, "Invalid version", "version '1.0.0\\n'");
            Assert.Contains("'1.0.0\\n'", Detail(await complete.Content.ReadAsStringAsync()), StringComparison.Ordinal);
            Assert.Equal(BuildStatus.Running, (await ApiCalls.GetBuildAsync(client, build.Id)).Status);
        }
        finally
        {
            (await client.PostAsync(ApiRoutes.CancelBuild(build.Id), null)).Dispose();
        }
    }

    [Theory]
    [InlineData("symlink chain")]
    [InlineData("build.sh and ./build.sh")]
    [InlineData("file and folder at one path")]
    public async Task Upload_ArchiveTheRunnerWouldRefuse_IsRefusedAtUploadAlready(string name)
    {
        var (zip, title) = name switch
        {
            "symlink chain" => (ApiCalls.Zip(("d/f.txt", "x"u8.ToArray(), 0), ("d/up", ".."u8.ToArray(), SymlinkMode), ("escape", "d/up/../.."u8.ToArray(), SymlinkMode)), "Unsafe symlink entry"),
            "build.sh and ./build.sh" => (ApiCalls.Zip(("build.sh", "echo one"u8.ToArray(), 0), ("./build.sh", "echo two"u8.ToArray(), 0)), "Duplicate archive entry"),
            _ => (ApiCalls.Zip(("a", "x"u8.ToArray(), 0), ("a/b", "y"u8.ToArray(), 0)), "Duplicate archive entry"),
        };

        using var response = await UploadAsync(zip, "application/zip");

        await BadInputTests.AssertProblemAsync(response, HttpStatusCode.BadRequest, title, name);
    }

    [Theory]
    [InlineData("application/zipfoo")]
    [InlineData("application/zip-evil")]
    [InlineData("application/octet-streamx")]
    public async Task Upload_ContentTypeThatOnlyStartsLikeAZipType_Is415(string contentType)
    {
        using var response = await UploadAsync(ApiCalls.Zip(("build.sh", "true"u8.ToArray(), 0)), contentType);

        await BadInputTests.AssertProblemAsync(response, HttpStatusCode.UnsupportedMediaType, "Unsupported content type", contentType);
    }

    [Theory]
    [InlineData("application/zip")]
    [InlineData("Application/ZIP; charset=binary")]
    [InlineData("application/x-zip-compressed")]
    [InlineData("application/octet-stream")]
    public async Task Upload_ExactZipTypes_AreStillAccepted(string contentType)
    {
        using var response = await UploadAsync(ApiCalls.Zip(("build.sh", "true"u8.ToArray(), 0)), contentType);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    [Fact]
    public async Task Upload_EntryLargerThanItsHeaderSays_IsRefusedAsCorrupt()
    {
        // 200 MiB of zeros whose headers say 1,000 bytes: .NET would read 1,000 bytes of it and call that the file.
        using var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        await using (var zeros = zip.CreateEntry("big.bin", CompressionLevel.SmallestSize).Open())
        {
            var chunk = new byte[1024 * 1024];
            for (var i = 0; i < 200; i++)
            {
                await zeros.WriteAsync(chunk);
            }
        }

        var bytes = buffer.ToArray();
        var eocd = bytes.Length - 22;
        Assert.Equal(0x06054b50u, BitConverter.ToUInt32(bytes, eocd));
        var central = (int)BitConverter.ToUInt32(bytes, eocd + 16);
        Assert.Equal((0x04034b50u, 0x02014b50u), (BitConverter.ToUInt32(bytes, 0), BitConverter.ToUInt32(bytes, central)));
        BitConverter.GetBytes(1000u).CopyTo(bytes, 22);           // local header: uncompressed size
        BitConverter.GetBytes(1000u).CopyTo(bytes, central + 24); // central directory: uncompressed size

        using var response = await UploadAsync(bytes, "application/zip");

        await BadInputTests.AssertProblemAsync(response, HttpStatusCode.BadRequest, "Corrupt archive", "lying header");
        Assert.Contains("entry 'big.bin' is larger than its header says", Detail(await response.Content.ReadAsStringAsync()), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Responses_LogsAndProblemsIncluded_SayNosniff()
    {
        using var client = fixture.Server.CreateClient();
        var build = await ApiCalls.StartBuildAsync(client, NewProjectId("nosniff"), ApiCalls.QuickBuild);
        await ApiCalls.WaitForEndAsync(client, build.Id);

        using var log = await client.GetAsync(ApiRoutes.BuildLog(build.Id));
        using var problem = await client.GetAsync(ApiRoutes.Build(Ids.NewId()));
        using var anonymous = new HttpClient { BaseAddress = fixture.Server.Url };
        using var health = await anonymous.GetAsync("healthz");

        foreach (var (what, response) in new[] { ("log", log), ("problem", problem), ("healthz", health) })
        {
            Assert.True(response.Headers.TryGetValues("X-Content-Type-Options", out var values), $"{what}: no X-Content-Type-Options");
            Assert.Equal("nosniff", Assert.Single(values));
        }
    }

    [Fact]
    public void DataFolder_IsNotListable_BlobsAreOwnerOnly_AndTheDatabaseAndKeysAre0600()
    {
        const UnixFileMode ownerOnlyFolder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        const UnixFileMode ownerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        var data = fixture.Server.DataDirectory;

        // Others may pass through the data folder (to the dependency cache, which the build user must reach), not list it.
        Assert.Equal(ownerOnlyFolder | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute, File.GetUnixFileMode(data));
        Assert.Equal(ownerOnlyFolder, File.GetUnixFileMode(Path.Combine(data, "blobs")));
        Assert.Equal(ownerOnlyFolder, File.GetUnixFileMode(Path.Combine(data, "tmp")));
        foreach (var file in new[] { "autobuilder.db", "admin.key", "signing.key" })
        {
            Assert.True(ownerOnlyFile == File.GetUnixFileMode(Path.Combine(data, file)), $"{file} is {File.GetUnixFileMode(Path.Combine(data, file))}");
        }
    }

    [Theory]
    [InlineData("Required")]
    [InlineData("Auto")]
    public async Task Sandbox_WithoutBubblewrapOnPath_RequiredRefusesToStart_AutoStartsWithAWarning(string mode)
    {
        var root = TestPaths.NewTempDirectory("no-bwrap");
        var emptyPath = Directory.CreateDirectory(Path.Combine(root, "bin")).FullName;
        var settings = new Dictionary<string, string> { ["Sandbox:Mode"] = mode };
        var environment = new Dictionary<string, string> { ["PATH"] = emptyPath };
        try
        {
            if (mode == "Required")
            {
                var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => ServerProcess.StartAsync(Path.Combine(root, "data"), settings, environment));
                Assert.Contains("Sandbox:Mode is Required but bubblewrap cannot sandbox builds: is not installed", refused.Message, StringComparison.Ordinal);
                return;
            }

            await using var server = await ServerProcess.StartAsync(Path.Combine(root, "data"), settings, environment);
            using var probe = new HttpClient { BaseAddress = server.Url };
            Assert.Equal(HttpStatusCode.OK, (await probe.GetAsync("readyz")).StatusCode);
            Assert.Contains("Builds run UNSANDBOXED: bubblewrap is not installed", server.Output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>
    /// The runner process runs as nobody (through Executor:RunnerExecutable): the kernel gives /proc/PID of a process
    /// to its own uid unless it made itself non-dumpable (PR_SET_DUMPABLE 0), when it goes to root, and then the build
    /// (same uid) cannot read the token from /proc/PID/mem or environ. The build's own dumpable `sleep` is the control.
    /// </summary>
    [Fact]
    public async Task ProcessRunner_IsNotDumpable_ItsProcFilesAreNotItsUsers()
    {
        const int nobody = 65534;
        var root = TestPaths.NewTempDirectory("dumpable");
        var wrapper = Path.Combine(root, "runner-as-nobody.sh");
        await File.WriteAllTextAsync(wrapper, $"""
            #!/bin/sh
            prev=""
            for a in "$@"; do [ "$prev" = "--workspace" ] && chown -R {nobody}:{nobody} "$a"; prev="$a"; done
            exec setpriv --reuid={nobody} --regid={nobody} --clear-groups env HOME=/tmp dotnet '{TestPaths.CliDll}' "$@"
            """);
        File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        try
        {
            await using var server = await ServerProcess.StartAsync(Path.Combine(root, "data"), new Dictionary<string, string>
            {
                ["Executor:Runner"] = "Process",
                ["Executor:RunnerExecutable"] = wrapper,
                ["Sandbox:Mode"] = "Off",
            });
            using var client = server.CreateClient();
            var build = await ApiCalls.StartBuildAsync(client, "dumpable", new Dictionary<string, string> { ["build.sh"] = "sleep 37\n" });
            await ApiCalls.WaitForAsync(client, build.Id, b => b.Phase == BuildPhase.Building, TimeSpan.FromMinutes(1));

            // The runner reports the phase just before it starts the command: wait for the command's process itself.
            var runnerPid = await WaitForProcessAsync(args => args.Contains("runner") && args.Contains(build.Id));
            var sleepPid = await WaitForProcessAsync(args => args is ["sleep", "37"]);
            Assert.Equal(nobody, RealUid(runnerPid));
            Assert.Equal(nobody, RealUid(sleepPid));
            Assert.Equal(nobody, await OwnerAsync(sleepPid)); // dumpable: its own user's
            Assert.Equal(0, await OwnerAsync(runnerPid));     // non-dumpable: root's, out of the build's reach
            (await client.PostAsync(ApiRoutes.CancelBuild(build.Id), null)).Dispose();
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static string? Detail(string problemJson)
    {
        using var problem = JsonDocument.Parse(problemJson);
        return problem.RootElement.GetProperty("detail").GetString();
    }

    /// <summary>The matching process, once it exists (a hang guard of a minute, not a timing assertion).</summary>
    private static async Task<int> WaitForProcessAsync(Func<string[], bool> matches)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        while (true)
        {
            if (FindProcess(matches) is { } pid)
            {
                return pid;
            }

            await Task.Delay(100, limit.Token);
        }
    }

    private static int? FindProcess(Func<string[], bool> matches)
    {
        foreach (var folder in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                if (int.TryParse(Path.GetFileName(folder), out var pid)
                    && matches(File.ReadAllText(Path.Combine(folder, "cmdline")).Split('\0', StringSplitOptions.RemoveEmptyEntries)))
                {
                    return pid;
                }
            }
            catch (IOException)
            {
                // gone meanwhile
            }
        }

        return null;
    }

    private static int RealUid(int pid) =>
        int.Parse(File.ReadAllLines($"/proc/{pid}/status").Single(l => l.StartsWith("Uid:", StringComparison.Ordinal)).Split('\t', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);

    private static async Task<int> OwnerAsync(int pid)
    {
        using var stat = Process.Start(new ProcessStartInfo("stat", ["-c", "%u", $"/proc/{pid}/status"]) { RedirectStandardOutput = true })!;
        var owner = await stat.StandardOutput.ReadToEndAsync();
        await stat.WaitForExitAsync();
        return int.Parse(owner.Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private async Task<HttpResponseMessage> UploadAsync(byte[] zip, string contentType)
    {
        using var client = fixture.Server.CreateClient();
        var project = NewProjectId("upload");
        await ApiCalls.CreateProjectAsync(client, project);
        using var content = new ByteArrayContent(zip);
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        return await client.PostAsync(ApiRoutes.Sources(project), content);
    }
}
