using System.Security.Cryptography;
using AutoBuilder.Core.Builds;
using AutoBuilder.EndToEnd.Tests.Infrastructure;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>Builds run in bubblewrap: a hostile build.sh finds nothing and changes nothing outside its workspace; secrets in logs are masked.</summary>
public sealed class SandboxTests(SandboxTests.Fixture fixture) : IClassFixture<SandboxTests.Fixture>
{
    public sealed class Fixture : ServerFixture
    {
        // Required: without a working bwrap the server refuses to start, and these tests fail rather than pass unsandboxed.
        // Shared caches: the one mode that binds a folder of the data folder into builds, so the one to check.
        protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string> { ["Sandbox:Mode"] = "Required", ["Caches:Mode"] = "Shared" };
    }

    [Fact]
    public async Task HostileBuild_FindsNoSecretReachesNoApiAndChangesNothingOutsideItsWorkspace()
    {
        var server = fixture.Server;
        using var client = server.CreateClient();
        var data = server.DataDirectory;
        var workspaces = Path.GetFullPath(Path.Combine(data, "..", Path.GetFileName(data) + "-workspaces"));

        // Another project's source, uploaded and built first.
        var canary = "victim-canary-" + Guid.NewGuid().ToString("N");
        var victimProject = $"victim-{Guid.NewGuid():N}"[..20];
        var victim = await ApiCalls.StartBuildAsync(client, victimProject, new Dictionary<string, string> { ["build.sh"] = $"# {canary}\necho built\n" });
        Assert.Equal(BuildStatus.Succeeded, (await ApiCalls.WaitForEndAsync(client, victim.Id)).Status);
        var victimSource = Directory.GetFiles(server.BlobRoot, "source.zip", SearchOption.AllDirectories)
            .Single(f => f.Contains(victimProject, StringComparison.Ordinal));

        var mark = "escape-" + Guid.NewGuid().ToString("N");
        var hostileProject = $"hostile-{Guid.NewGuid():N}"[..20];
        var before = Snapshot(data, hostileProject);
        var build = await ApiCalls.StartBuildAsync(client, hostileProject, new Dictionary<string, string>
        {
            ["build.sh"] = HostileScript(data, workspaces, server.Url.Port, canary, mark),
        });
        var ended = await ApiCalls.WaitForEndAsync(client, build.Id);
        var log = await ApiCalls.GetLogAsync(client, build.Id);
        var after = Snapshot(data, hostileProject);

        Assert.True(ended.Status == BuildStatus.Succeeded, log);
        Assert.Contains("HOSTILE-DONE", log, StringComparison.Ordinal);
        Assert.DoesNotContain("FOUND:", log, StringComparison.Ordinal);
        Assert.DoesNotContain(canary, log, StringComparison.Ordinal);
        Assert.Contains("API-UNREACHABLE tcp", log, StringComparison.Ordinal);
        Assert.Contains("API-UNREACHABLE curl", log, StringComparison.Ordinal);
        Assert.DoesNotContain("API-REACHED", log, StringComparison.Ordinal);
        // Of the data folder, the build sees only the cache folder bound into it.
        Assert.Equal(["DATA-SEES: cache"], log.Split('\n').Where(l => l.StartsWith("DATA-SEES:", StringComparison.Ordinal)));
        Assert.Contains("PROCESSES-SEEN: ", log, StringComparison.Ordinal);
        Assert.Contains("sandbox: bubblewrap, network: egress", log, StringComparison.Ordinal); // the default since builds have their own network

        // Nothing changed in the data folder apart from the hostile build's own blobs and the database.
        Assert.Equal(before, after);
        Assert.Empty(Directory.GetFiles(data, mark, SearchOption.AllDirectories));
        Assert.Empty(Directory.GetFiles(workspaces, mark, SearchOption.AllDirectories));
        Assert.All(new[] { "/tmp", "/var/tmp", "/root", "/" }, folder => Assert.False(File.Exists(Path.Combine(folder, mark)), $"{folder}/{mark} was written"));
        Assert.True(File.Exists(victimSource));
    }

    [Fact]
    public async Task Build_EchoingSecrets_HasThemMaskedInItsLogAndTheServerLog()
    {
        var server = fixture.Server;
        using var client = server.CreateClient();
        var key = "abk_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var signature = "SIG" + Guid.NewGuid().ToString("N");
        var token = $"{Guid.NewGuid():N}.1.MAC{Guid.NewGuid():N}";
        var build = await ApiCalls.StartBuildAsync(client, $"echo-{Guid.NewGuid():N}"[..20], new Dictionary<string, string>
        {
            ["build.sh"] = $"echo \"key {key}\"\nprintf 'url http://127.0.0.1:1/blobs/x?sp=r&exp=1&sig={signature}\\n'\necho \"token {token}\"\necho \"admin {server.AdminKey}\"\n",
        });

        var ended = await ApiCalls.WaitForEndAsync(client, build.Id);
        var log = await ApiCalls.GetLogAsync(client, build.Id);

        Assert.True(ended.Status == BuildStatus.Succeeded, log);
        Assert.Contains("key abk_***", log, StringComparison.Ordinal);
        Assert.Contains("sig=***", log, StringComparison.Ordinal);
        Assert.Contains("token " + token[..34] + ".***", log, StringComparison.Ordinal);
        Assert.Contains("admin abk_***", log, StringComparison.Ordinal);
        foreach (var secret in new[] { key, signature, token, server.AdminKey })
        {
            Assert.DoesNotContain(secret, log, StringComparison.Ordinal);
            Assert.DoesNotContain(secret, server.Output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task SampleScriptBuild_Sandboxed_Succeeds()
    {
        using var client = fixture.Server.CreateClient();
        var sample = Path.Combine(TestPaths.Samples, "script-hello");
        var files = Directory.GetFiles(sample, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(sample, f), File.ReadAllText);

        var build = await ApiCalls.StartBuildAsync(client, $"script-{Guid.NewGuid():N}"[..20], files);
        var ended = await ApiCalls.WaitForEndAsync(client, build.Id);
        var log = await ApiCalls.GetLogAsync(client, build.Id);

        Assert.True(ended.Status == BuildStatus.Succeeded, log);
        Assert.Contains("sandbox: bubblewrap, network: egress", log, StringComparison.Ordinal); // the default since builds have their own network
    }

    /// <summary>Every file of the data folder (path, size, SHA-256), less what the hostile build may legitimately change: its own blobs, the database, the shared cache.</summary>
    private static List<string> Snapshot(string data, string hostileProject) =>
        [.. Directory.GetFiles(data, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(data, f))
            .Where(f => !f.Contains(hostileProject, StringComparison.Ordinal)
                        && !f.StartsWith("autobuilder.db", StringComparison.Ordinal)
                        && !f.StartsWith("cache" + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .Select(f => $"{f} {new FileInfo(Path.Combine(data, f)).Length} {Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(data, f))))}")];

    private static string HostileScript(string data, string workspaces, int port, string canary, string mark) => $$"""
        DATA='{{data}}'
        WORKSPACES='{{workspaces}}'
        PORT={{port}}
        CANARY='{{canary}}'
        MARK='{{mark}}'
        echo "id: $(id)"
        find / -path /proc -prune -o \( -name admin.key -o -name signing.key -o -name 'autobuilder.db*' -o -name source.zip -o -name blobs \) -print 2>/dev/null | sed 's/^/FOUND: /'
        for f in "$DATA/admin.key" "$DATA/signing.key" "$DATA/autobuilder.db" "$DATA/blobs"; do [ -e "$f" ] && echo "FOUND: $f"; done
        ls -A "$DATA" 2>/dev/null | sed 's/^/DATA-SEES: /'
        ls -A "$WORKSPACES" 2>/dev/null | grep -v "^$(basename "$(dirname "$PWD")")$" | sed 's/^/FOUND: other workspace /'
        grep -rl "$CANARY" / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev --exclude-dir=usr 2>/dev/null | grep -v "^$PWD/build.sh$" | sed 's/^/FOUND: canary in /'
        cat /proc/[0-9]*/cmdline /proc/[0-9]*/environ 2>/dev/null | tr '\0' '\n' | grep -E '[0-9a-f]{32}\.[0-9]+\.' | sed 's/^/FOUND: token-shaped /'
        grep -rEl '[0-9a-f]{32}\.[0-9]+\.[A-Za-z0-9_-]{20}' / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev --exclude-dir=usr 2>/dev/null | grep -v "^$PWD/build.sh$" | sed 's/^/FOUND: token-shaped in /'
        echo "PROCESSES-SEEN: $(ls -d /proc/[0-9]* | wc -l)"
        if bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT" 2>/dev/null; then echo "API-REACHED tcp"; else echo "API-UNREACHABLE tcp"; fi
        if curl -s -m 5 -o /dev/null "http://127.0.0.1:$PORT/health"; then echo "API-REACHED curl"; else echo "API-UNREACHABLE curl"; fi
        for d in "$DATA" "$DATA/blobs" "$DATA/cache/.." "$WORKSPACES" /tmp /var/tmp /root /; do
          echo x > "$d/$MARK" 2>/dev/null && echo "wrote $d/$MARK (inside the sandbox)"
        done
        echo HOSTILE-DONE
        """;
}
