using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using AutoBuilder.Core;
using AutoBuilder.Core.Api;
using AutoBuilder.Core.Builds;
using AutoBuilder.EndToEnd.Tests.Infrastructure;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>
/// The hostile builds of the security issue that aim past the sandbox: a loader variable in env:, FIFOs in the
/// outputs, a shared cache, and root. Each failed on the code before the fix. The server runs as root, as here.
/// </summary>
public sealed class HostileSandboxTests(HostileSandboxTests.Fixture fixture) : IClassFixture<HostileSandboxTests.Fixture>
{
    public sealed class Fixture : ServerFixture
    {
        protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
        {
            ["Dispatcher:MaxConcurrentBuilds"] = "2",
            // The shared per-project folders are where one project's build could reach another's; keyed caches are private.
            ["Caches:Mode"] = "Shared",
        };
    }

    private static string NewProjectId(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..24];

    /// <summary>
    /// The escape as it was found: a ZIP with a shared library and env: LD_PRELOAD pointing at it. The variable is refused
    /// before anything runs (one attempt, a reason naming it), and the library's constructor, which would copy the admin
    /// key into the outputs, never runs.
    /// </summary>
    [Fact]
    public async Task LoaderVariableInEnv_IsRefusedAndRunsNothing()
    {
        using var client = fixture.Server.CreateClient();
        var adminKey = Path.Combine(fixture.Server.DataDirectory, "admin.key");
        var library = await CompileStealerAsync(adminKey);
        var project = NewProjectId("preload");
        await ApiCalls.CreateProjectAsync(client, project);

        var build = await StartBuildAsync(client, project, ApiCalls.Zip(
            ("evil.so", library, 0),
            ("autobuilder.yml", "env:\n  LD_PRELOAD: /proc/self/cwd/evil.so\noutputs: [out/**]\n"u8.ToArray(), 0),
            ("build.sh", "mkdir -p out; echo built > out/done.txt\n"u8.ToArray(), 0)));
        var ended = await ApiCalls.WaitForEndAsync(client, build.Id);

        Assert.Equal(BuildStatus.Failed, ended.Status);
        Assert.Equal(1, ended.Attempt);
        Assert.Contains("'env' may not set LD_PRELOAD", ended.Error, StringComparison.Ordinal);
        var log = await ApiCalls.GetLogAsync(client, build.Id);
        Assert.DoesNotContain("STOLEN", log, StringComparison.Ordinal);
        Assert.DoesNotContain(fixture.Server.AdminKey, log, StringComparison.Ordinal);
        Assert.DoesNotContain(Directory.EnumerateFiles(fixture.Server.BlobRoot, "result.zip", SearchOption.AllDirectories), path => path.Contains(project, StringComparison.Ordinal));
    }

    /// <summary>
    /// Two builds leave a FIFO among their outputs and overrun a 20 s timeout; a third user's build waits behind them
    /// (two slots). The runner publishes regular files only, so both end timed out and the third then runs. Before the
    /// fix the runner opened the FIFO, blocked for ever, and the third build stayed queued.
    /// </summary>
    [Fact]
    public async Task FifoInOutputs_NeitherBlocksTheRunnerNorHoldsItsSlot()
    {
        using var admin = fixture.Server.CreateClient();
        var fifo = new Dictionary<string, string>
        {
            ["autobuilder.yml"] = "timeout: 20s\noutputs: [out/**]\n",
            ["build.sh"] = "mkdir -p out && echo text > out/file.txt && mkfifo out/pipe && sleep 600\n",
        };
        var first = await ApiCalls.StartBuildAsync(admin, NewProjectId("fifo-a"), fifo);
        var second = await ApiCalls.StartBuildAsync(admin, NewProjectId("fifo-b"), fifo);
        await ApiCalls.WaitForAsync(admin, first.Id, b => b.Phase == BuildPhase.Building);
        await ApiCalls.WaitForAsync(admin, second.Id, b => b.Phase == BuildPhase.Building);
        using var other = await NewUserAsync("fifo-victim");
        var queued = await ApiCalls.StartBuildAsync(other, NewProjectId("victim"), ApiCalls.QuickBuild);

        var ends = await Task.WhenAll(
            ApiCalls.WaitForEndAsync(admin, first.Id, TimeSpan.FromMinutes(3)),
            ApiCalls.WaitForEndAsync(admin, second.Id, TimeSpan.FromMinutes(3)),
            ApiCalls.WaitForEndAsync(other, queued.Id, TimeSpan.FromMinutes(3)));

        Assert.All(ends[..2], end => Assert.Equal(BuildStatus.TimedOut, end.Status));
        Assert.Equal(BuildStatus.Succeeded, ends[2].Status);
        var log = await ApiCalls.GetLogAsync(admin, first.Id);
        Assert.Contains("skipped 'out/pipe': it is a FIFO (named pipe); only regular files are published", log, StringComparison.Ordinal);
        Assert.Contains("result.zip with 1 files", log, StringComparison.Ordinal);
    }

    /// <summary>A build that ends at once leaving a FIFO succeeds with the FIFO left out and named in the log.</summary>
    [Fact]
    public async Task FifoInOutputs_OfASucceedingBuild_IsSkippedAndNamed()
    {
        using var client = fixture.Server.CreateClient();
        var build = await ApiCalls.StartBuildAsync(client, NewProjectId("fifo-ok"), new Dictionary<string, string>
        {
            ["autobuilder.yml"] = "timeout: 20s\noutputs: [out/**]\n",
            ["build.sh"] = "mkdir -p out && echo text > out/file.txt && mkfifo out/pipe\n",
        });

        var ended = await ApiCalls.WaitForEndAsync(client, build.Id, TimeSpan.FromMinutes(2));

        Assert.Equal(BuildStatus.Succeeded, ended.Status);
        var log = await ApiCalls.GetLogAsync(client, build.Id);
        Assert.Contains("skipped 'out/pipe': it is a FIFO (named pipe)", log, StringComparison.Ordinal);
    }

    /// <summary>
    /// One user's build writes into its dependency cache; another user's build must neither see it nor reach the folder
    /// it is in. Before the fix every build shared one writable {data}/cache.
    /// </summary>
    [Fact]
    public async Task DependencyCache_IsNotSharedBetweenUsersProjects()
    {
        using var mallory = await NewUserAsync("cache-mallory");
        using var victim = await NewUserAsync("cache-victim");
        var poisoned = await ApiCalls.StartBuildAsync(mallory, NewProjectId("poison"), new Dictionary<string, string>
        {
            ["build.sh"] = "echo poisoned > \"$AUTOBUILDER_CACHE/poison.jar\"; echo poisoned > \"$AUTOBUILDER_CACHE/../poison.jar\" || true\nls \"$AUTOBUILDER_CACHE\"\n",
        });
        Assert.Equal(BuildStatus.Succeeded, (await ApiCalls.WaitForEndAsync(mallory, poisoned.Id)).Status);
        Assert.Contains("poison.jar", await ApiCalls.GetLogAsync(mallory, poisoned.Id), StringComparison.Ordinal); // it did write its own

        var reader = await ApiCalls.StartBuildAsync(victim, NewProjectId("reader"), new Dictionary<string, string>
        {
            ["build.sh"] = "echo \"cache is $AUTOBUILDER_CACHE\"; find \"$AUTOBUILDER_CACHE/..\" -name 'poison*' | sed 's/^/FOUND /'; cat \"$AUTOBUILDER_CACHE/poison.jar\" 2>&1 | sed 's/^/READ /'\n",
        });
        Assert.Equal(BuildStatus.Succeeded, (await ApiCalls.WaitForEndAsync(victim, reader.Id)).Status);

        var log = await ApiCalls.GetLogAsync(victim, reader.Id);
        Assert.Contains("cache is ", log, StringComparison.Ordinal);
        Assert.DoesNotContain("FOUND", log, StringComparison.Ordinal);
        Assert.DoesNotContain("READ poisoned", log, StringComparison.Ordinal);
    }

    /// <summary>The server runs as root; its builds do not: they run as the unprivileged build user (Sandbox:BuildUid).</summary>
    [Fact]
    public async Task Build_UnderARootServer_RunsAsTheUnprivilegedBuildUser()
    {
        Assert.True(Environment.IsPrivilegedProcess, "the end-to-end tests run as root, like a server that must drop privileges for its builds");
        using var client = fixture.Server.CreateClient();
        var build = await ApiCalls.StartBuildAsync(client, NewProjectId("whoami"), new Dictionary<string, string>
        {
            ["build.sh"] = "echo \"uid=$(id -u) gid=$(id -g)\"; cat /proc/self/status | grep CapEff\n",
        });

        var ended = await ApiCalls.WaitForEndAsync(client, build.Id);

        Assert.Equal(BuildStatus.Succeeded, ended.Status);
        var log = await ApiCalls.GetLogAsync(client, build.Id);
        Assert.Contains("\nuid=64000 gid=64000\n", log, StringComparison.Ordinal);
        Assert.Contains("CapEff:\t0000000000000000", log, StringComparison.Ordinal);
    }

    private async Task<HttpClient> NewUserAsync(string name)
    {
        using var admin = fixture.Server.CreateClient();
        var user = $"{name}-{Guid.NewGuid():N}"[..20];
        using var created = await admin.PostAsync(ApiRoutes.UserKeys(user, false), null);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var key = (await created.Content.ReadFromJsonAsync<ApiKeyCreated>(AutoBuilderJson.Options))!;
        return fixture.Server.CreateClient(key.Key);
    }

    private static async Task<BuildDto> StartBuildAsync(HttpClient client, string project, byte[] zip)
    {
        using var content = new ByteArrayContent(zip);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/zip");
        using var response = await client.PostAsync(ApiRoutes.ProjectBuilds(project), content);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<BuildDto>(AutoBuilderJson.Options))!;
    }

    /// <summary>The library of the report: its constructor copies the admin key into the build's outputs.</summary>
    private static async Task<byte[]> CompileStealerAsync(string adminKey)
    {
        var folder = TestPaths.NewTempDirectory("stealer");
        var source = Path.Combine(folder, "evil.c");
        await File.WriteAllTextAsync(source, $$"""
            #include <fcntl.h>
            #include <stdio.h>
            #include <sys/stat.h>
            #include <unistd.h>
            __attribute__((constructor)) static void steal(void) {
              char key[512] = {0};
              int fd = open("{{adminKey}}", O_RDONLY);
              if (fd < 0 || read(fd, key, sizeof key - 1) <= 0) return;
              mkdir("/proc/self/cwd/out", 0755);
              FILE *f = fopen("/proc/self/cwd/out/stolen.txt", "w");
              if (f) { fprintf(f, "STOLEN %s\n", key); fclose(f); }
              printf("STOLEN %s\n", key);
            }
            """);
        var library = Path.Combine(folder, "evil.so");
        var startInfo = new ProcessStartInfo("gcc") { RedirectStandardError = true };
        foreach (var argument in new[] { "-shared", "-fPIC", "-o", library, source })
        {
            startInfo.ArgumentList.Add(argument);
        }

        using var gcc = Process.Start(startInfo)!;
        var errors = await gcc.StandardError.ReadToEndAsync();
        await gcc.WaitForExitAsync();
        Assert.True(gcc.ExitCode == 0, $"gcc failed (scripts/test.sh installs it): {errors}");
        return await File.ReadAllBytesAsync(library);
    }
}
