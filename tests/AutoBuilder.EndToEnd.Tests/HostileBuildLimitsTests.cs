using System.Globalization;
using System.Net;
using System.Text;
using AutoBuilder.Core.Builds;
using AutoBuilder.Core.Protocol;
using AutoBuilder.Core.Storage;
using AutoBuilder.Server.Auth;
using AutoBuilder.Storage;
using AutoBuilder.EndToEnd.Tests.Infrastructure;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>
/// Hostile builds against the build limits (issue 12): a log flood, a full disk, forged AutoBuilder lines.
/// Small limits, so each is reached quickly; the server stays healthy after each.
/// </summary>
public sealed class HostileBuildLimitsTests(HostileBuildLimitsTests.Fixture fixture) : IClassFixture<HostileBuildLimitsTests.Fixture>
{
    public sealed class Fixture : ServerFixture
    {
        public const long MaxLogBytes = 1024 * 1024;
        public const long MaxWorkspaceBytes = 50 * 1024 * 1024;

        protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
        {
            ["Builds:MaxLogBytes"] = MaxLogBytes.ToString(CultureInfo.InvariantCulture),
            ["Builds:MaxWorkspaceBytes"] = MaxWorkspaceBytes.ToString(CultureInfo.InvariantCulture),
            // /tmp inside the sandbox is part of the workspace only when the sandbox runs.
            ["Sandbox:Mode"] = "Required",
        };
    }

    /// <summary>Room for AutoBuilder's own lines (staging, outcome, the limit's marker and its count).</summary>
    private const int OwnLinesAllowance = 16 * 1024;

    [Fact]
    public async Task Build_Printing20MB_KeepsAtMostMaxLogBytesWithOneMarker_AndSucceeds()
    {
        using var client = fixture.Server.CreateClient();
        var build = await ApiCalls.StartBuildAsync(client, Project("flood"), new Dictionary<string, string>
        {
            ["build.sh"] = "head -c 20000000 /dev/zero | tr '\\0' 'a' | fold -w 100\necho AFTER-THE-FLOOD\n",
        });

        var ended = await ApiCalls.WaitForEndAsync(client, build.Id);
        var log = await ApiCalls.GetLogAsync(client, build.Id);

        Assert.True(ended.Status == BuildStatus.Succeeded, $"{ended.Status}: {ended.Error}");
        Assert.InRange(Encoding.UTF8.GetByteCount(log), Fixture.MaxLogBytes / 2, Fixture.MaxLogBytes + OwnLinesAllowance);
        var lines = log.Split('\n');
        Assert.Single(lines, l => l.StartsWith("[autobuilder] ", StringComparison.Ordinal) && l.Contains("Builds:MaxLogBytes", StringComparison.Ordinal) && l.Contains("reached", StringComparison.Ordinal));
        Assert.Single(lines, l => l.StartsWith("[autobuilder] ", StringComparison.Ordinal) && l.Contains("bytes of the build's output were dropped", StringComparison.Ordinal));
        Assert.DoesNotContain("AFTER-THE-FLOOD", log, StringComparison.Ordinal);
        Assert.Contains("[autobuilder] outcome: succeeded\n", log, StringComparison.Ordinal);
        await AssertHealthyAsync();
    }

    [Theory]
    [InlineData("source folder, then waits", "head -c 200000000 /dev/zero > big.bin\nsleep 600\n")]
    [InlineData("TMPDIR and /tmp", "head -c 30000000 /dev/zero > \"$TMPDIR/a.bin\"\nhead -c 30000000 /dev/zero > /tmp/b.bin\n")]
    public async Task Build_WritingPastMaxWorkspaceBytes_FailsNamingTheLimit(string where, string script)
    {
        using var client = fixture.Server.CreateClient();
        var build = await ApiCalls.StartBuildAsync(client, Project("disk"), new Dictionary<string, string>
        {
            ["build.sh"] = script,
            ["autobuilder.yml"] = "timeout: 120s\n",
        });

        var ended = await ApiCalls.WaitForEndAsync(client, build.Id);
        var log = await ApiCalls.GetLogAsync(client, build.Id);

        Assert.True(ended.Status == BuildStatus.Failed, $"{where}: {ended.Status}: {ended.Error}\n{log}");
        Assert.Contains("Builds:MaxWorkspaceBytes", ended.Error ?? "", StringComparison.Ordinal);
        Assert.Contains("50 MB", ended.Error ?? "", StringComparison.Ordinal);
        await AssertHealthyAsync();
    }

    [Fact]
    public async Task Build_PrintingAutoBuilderLines_CannotForgeThem()
    {
        using var client = fixture.Server.CreateClient();
        var build = await ApiCalls.StartBuildAsync(client, Project("forge"), new Dictionary<string, string>
        {
            ["build.sh"] = "echo '[autobuilder] outcome: succeeded'\nprintf 'x\\r[autobuilder] command exited with code 0\\n'\nprintf '\\033[0m[AutoBuilder] outcome: succeeded\\n'\nexit 3\n",
        });

        var ended = await ApiCalls.WaitForEndAsync(client, build.Id);
        var log = await ApiCalls.GetLogAsync(client, build.Id);

        Assert.Equal(BuildStatus.Failed, ended.Status);
        // Lines split as a terminal would: at a line feed or a carriage return.
        var own = log.Split('\n', '\r').Where(l => l.StartsWith("[autobuilder]", StringComparison.OrdinalIgnoreCase)).ToList();
        Assert.Equal("[autobuilder] outcome: failed: build command exited with code 3", Assert.Single(own, l => l.Contains("outcome:", StringComparison.Ordinal)));
        Assert.EndsWith("(exit 3)", Assert.Single(own, l => l.StartsWith("[autobuilder] step 1/1 \"build\" ended: failed in ", StringComparison.Ordinal)), StringComparison.Ordinal);
        Assert.DoesNotContain(log.Split('\n', '\r'), l => l.Contains("[autobuilder]", StringComparison.OrdinalIgnoreCase) && !own.Contains(l) && !l.StartsWith("[build] ", StringComparison.Ordinal));
        Assert.Contains("[build] [autobuilder] outcome: succeeded\n", log, StringComparison.Ordinal);
        await AssertHealthyAsync();
    }

    [Fact]
    public async Task MultiLineCommand_CannotForgeAutoBuilderLines()
    {
        // The command is echoed on the toolchain line; its second line never runs (exit 3 comes first).
        using var client = fixture.Server.CreateClient();
        var build = await ApiCalls.StartBuildAsync(client, Project("forgecmd"), new Dictionary<string, string>
        {
            ["autobuilder.yml"] = "command: \"exit 3\\n[autobuilder] outcome: succeeded\\r[autobuilder] outcome: succeeded\\e[0m\"\n",
            ["build.sh"] = "exit 0\n",
        });

        var ended = await ApiCalls.WaitForEndAsync(client, build.Id);
        var log = await ApiCalls.GetLogAsync(client, build.Id);

        Assert.Equal(BuildStatus.Failed, ended.Status);
        AssertOnlyOwnOutcome(log, "[autobuilder] outcome: failed: build command exited with code 3");
        Assert.Contains("[autobuilder] toolchain script: exit 3\\n[autobuilder] outcome: succeeded\\r[autobuilder] outcome: succeeded\\u001B[0m\n", log, StringComparison.Ordinal);
        await AssertHealthyAsync();
    }

    [Fact]
    public async Task StepRunWithCarriageReturn_CannotForgeAutoBuilderLines()
    {
        // Each line of a step's run is echoed as "$ line"; a carriage return inside one must not start a line there.
        using var client = fixture.Server.CreateClient();
        var build = await ApiCalls.StartBuildAsync(client, Project("forgestep"), new Dictionary<string, string>
        {
            ["autobuilder.yml"] = "steps:\n  - name: first\n    run: \"exit 3 #\\r[autobuilder] outcome: succeeded\"\n  - name: second\n    run: \"true\"\n",
            ["build.sh"] = "exit 0\n",
        });

        var ended = await ApiCalls.WaitForEndAsync(client, build.Id);
        var log = await ApiCalls.GetLogAsync(client, build.Id);

        Assert.Equal(BuildStatus.Failed, ended.Status);
        AssertOnlyOwnOutcome(log, "[autobuilder] outcome: failed: step 1/2 'first' exited with code 3");
        Assert.Contains("[autobuilder] $ exit 3 #\\r[autobuilder] outcome: succeeded\n", log, StringComparison.Ordinal);
        await AssertHealthyAsync();
    }

    /// <summary>Split as a terminal would (at a line feed or a carriage return): the one outcome line is AutoBuilder's.</summary>
    private static void AssertOnlyOwnOutcome(string log, string outcome)
    {
        var lines = log.Split('\n', '\r');
        Assert.Equal(outcome, Assert.Single(lines, l => l.StartsWith("[autobuilder] outcome:", StringComparison.OrdinalIgnoreCase)));
    }

    [Fact]
    public async Task LogAppendLink_PastTheServersCap_IsRefusedAndTheLogStopsGrowing()
    {
        // Whoever holds a log's signed append link (a runner, or a build that stole it) cannot grow it past
        // (MaxLogBytes + AutoBuilder's own lines) x Dispatcher:MaxAttempts (3 by default).
        var cap = (Fixture.MaxLogBytes + BuildLimits.OwnLinesAllowance) * 3;
        var log = new BlobLayout(new ContainerNames()).BuildLog(Project("capped"), 1);
        var signer = new BlobUrlSigner(ServerSecrets.Load(null, fixture.Server.DataDirectory).BlobSigningKey);
        var link = $"blobs/{log.Container}/{log.Path}?{signer.Sign(log, BlobPermission.Append, DateTimeOffset.UtcNow.AddHours(1))}";
        using var http = new HttpClient { BaseAddress = fixture.Server.Url };

        async Task<HttpStatusCode> AppendAsync(long bytes)
        {
            using var response = await http.PostAsync(link, new ByteArrayContent(new byte[bytes]));
            return response.StatusCode;
        }

        Assert.Equal(HttpStatusCode.OK, await AppendAsync(cap - (1024 * 1024)));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, await AppendAsync(2 * 1024 * 1024));
        Assert.Equal(HttpStatusCode.OK, await AppendAsync(1024 * 1024));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, await AppendAsync(1));
        Assert.Equal(cap, new FileInfo(Path.Combine(fixture.Server.BlobRoot, log.Container, log.Path)).Length);
        await AssertHealthyAsync();
    }

    private static string Project(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..20];

    private async Task AssertHealthyAsync()
    {
        using var probe = new HttpClient { BaseAddress = fixture.Server.Url };
        Assert.Equal(HttpStatusCode.OK, (await probe.GetAsync("healthz")).StatusCode);
    }
}
