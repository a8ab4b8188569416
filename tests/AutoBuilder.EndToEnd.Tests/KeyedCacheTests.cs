using System.Security.Cryptography;
using AutoBuilder.Core.Builds;
using AutoBuilder.EndToEnd.Tests.Infrastructure;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>
/// Keyed dependency caches through a real `autobuilder serve` (Caches:Mode=Keyed, the default): archives saved to the
/// blob store after a success, restored into the next build's private cache, and every broken case building cold.
/// </summary>
public sealed class KeyedCacheTests
{
    /// <summary>A script project whose "dependency" lives in ~/.deps, keyed by deps.txt: fast, and it says where it came from.</summary>
    internal static Dictionary<string, string> ScriptProject(string deps = "lib 1.0\n") => new()
    {
        ["deps.txt"] = deps,
        ["autobuilder.yml"] = "cache:\n  key: [deps.txt]\n  paths: [.deps]\noutputs: [out/**]\n",
        ["build.sh"] = "mkdir -p out\nif [ -f \"$HOME/.deps/lib.jar\" ]; then echo DEPS-FROM-CACHE; else echo DEPS-DOWNLOADED; mkdir -p \"$HOME/.deps\"; head -c 200000 /dev/urandom > \"$HOME/.deps/lib.jar\"; fi\ncp \"$HOME/.deps/lib.jar\" out/\n",
    };

    /// <summary>
    /// Acceptance: with the machine's local caches gone and the Maven mirror unreachable (same mirror id, dead URL), a
    /// build of a project whose dependencies were cached succeeds: they came from the blob store.
    /// </summary>
    [Fact]
    public async Task MavenBuild_WithTheMirrorDeadAndNoLocalCache_SucceedsFromTheSavedArchive()
    {
        var root = TestPaths.NewTempDirectory("keyed-maven");
        var data = Path.Combine(root, "data");
        var project = $"kc-maven-{Guid.NewGuid():N}"[..24];
        var sample = SampleFiles("maven-hello");
        string key;
        await using (var server = await ServerProcess.StartAsync(data))
        {
            using var client = server.CreateClient();
            var first = await ApiCalls.WaitForEndAsync(client, (await ApiCalls.StartBuildAsync(client, project, sample)).Id, TimeSpan.FromMinutes(5));
            var log = await ApiCalls.GetLogAsync(client, first.Id);
            Assert.True(first.Status == BuildStatus.Succeeded, log);
            Assert.Contains("cache: restore of maven-", log, StringComparison.Ordinal);
            Assert.Contains("skipped: no cache saved under this key or its restore keys; building cold", log, StringComparison.Ordinal);
            key = KeyIn(log, "cache: saved ");
        }

        // Keyed never writes the runner's shared cache folder; and the machine's local caches go: the shared folder and
        // every workspace (the private caches were in them).
        Assert.Empty(Directory.Exists(Path.Combine(data, "cache")) ? Directory.EnumerateFiles(Path.Combine(data, "cache"), "*.jar", SearchOption.AllDirectories) : []);
        foreach (var local in new[] { Path.Combine(data, "cache"), Path.Combine(root, "data-workspaces") }.Where(Directory.Exists))
        {
            Directory.Delete(local, recursive: true);
        }

        Assert.True(File.Exists(Path.Combine(data, "blobs", "cache", project, "maven", key + ".tar.zst")));

        var deadMirror = Path.Combine(root, "dead-mirror.xml");
        await File.WriteAllTextAsync(deadMirror, (await File.ReadAllTextAsync(TestPaths.MavenSettings)).Replace("file:///usr/share/maven-repo", "http://127.0.0.1:1/maven-repo", StringComparison.Ordinal));
        await using (var server = await ServerProcess.StartAsync(data, new Dictionary<string, string> { ["Toolchains:Maven:SettingsFile"] = deadMirror }))
        {
            using var client = server.CreateClient();

            // Positive control: the same sample in a project without a cache cannot build on this mirror.
            var control = await ApiCalls.WaitForEndAsync(client, (await ApiCalls.StartBuildAsync(client, project + "-x", sample)).Id, TimeSpan.FromMinutes(5));
            Assert.Equal(BuildStatus.Failed, control.Status);

            var second = await ApiCalls.WaitForEndAsync(client, (await ApiCalls.StartBuildAsync(client, project, sample)).Id, TimeSpan.FromMinutes(5));
            var log = await ApiCalls.GetLogAsync(client, second.Id);
            Assert.True(second.Status == BuildStatus.Succeeded, log);
            Assert.Contains($"cache: restored {key} (exact), ", log, StringComparison.Ordinal);
            Assert.DoesNotContain("cache: saved", log, StringComparison.Ordinal); // an exact hit saves nothing
        }

        Directory.Delete(root, recursive: true);
    }

    /// <summary>Acceptance: a corrupted archive and a missing one each leave the build succeeding cold, saying so; the next build saves normally.</summary>
    [Fact]
    public async Task Build_CorruptThenMissingArchive_BuildsColdWithALineSaying_ThenSavesAnew()
    {
        var root = TestPaths.NewTempDirectory("keyed-broken");
        var data = Path.Combine(root, "data");
        var project = $"kc-broken-{Guid.NewGuid():N}"[..24];
        await using var server = await ServerProcess.StartAsync(data);
        using var client = server.CreateClient();

        var (_, firstLog) = await BuildAsync(client, project, ScriptProject());
        Assert.Contains("DEPS-DOWNLOADED", firstLog, StringComparison.Ordinal);
        var key = KeyIn(firstLog, "cache: saved ");
        var blob = Path.Combine(data, "blobs", "cache", project, "script", key + ".tar.zst");

        var bytes = await File.ReadAllBytesAsync(blob);
        Array.Fill(bytes, (byte)0x5a, bytes.Length / 3, bytes.Length / 3);
        await File.WriteAllBytesAsync(blob, bytes);
        var (_, corruptLog) = await BuildAsync(client, project, ScriptProject());
        Assert.Contains($"cache: restore of {key} skipped: the cache archive", corruptLog, StringComparison.Ordinal);
        Assert.Contains("; building cold", corruptLog, StringComparison.Ordinal);
        Assert.Contains("DEPS-DOWNLOADED", corruptLog, StringComparison.Ordinal);
        Assert.Contains($"cache: saved {key}", corruptLog, StringComparison.Ordinal); // the broken entry is replaced at once

        File.Delete(blob);
        var (_, missingLog) = await BuildAsync(client, project, ScriptProject());
        Assert.Contains($"cache: restore of {key} skipped: download failed: HTTP 404", missingLog, StringComparison.Ordinal);
        Assert.Contains("DEPS-DOWNLOADED", missingLog, StringComparison.Ordinal);
        Assert.Contains($"cache: saved {key}", missingLog, StringComparison.Ordinal); // the entry without its blob was replaced

        var (_, restoredLog) = await BuildAsync(client, project, ScriptProject());
        // The embedded server runs as root: an exact hit is unpacked once into this machine's read-only copy and mounted.
        Assert.Contains($"cache: restored {key} (exact), ", restoredLog, StringComparison.Ordinal);
        Assert.Contains("; its read-only copy stays on this machine for the next builds", restoredLog, StringComparison.Ordinal);
        Assert.Contains("DEPS-FROM-CACHE", restoredLog, StringComparison.Ordinal);

        // Changed dependencies: the nearest older cache, then a save under the new key; another project sees none of it.
        var (_, changedLog) = await BuildAsync(client, project, ScriptProject("lib 2.0\n"));
        Assert.Contains($"cache: restored {key} (from restore key script-), ", changedLog, StringComparison.Ordinal);
        Assert.NotEqual(key, KeyIn(changedLog, "cache: saved "));
        var (_, otherLog) = await BuildAsync(client, project + "-o", ScriptProject());
        Assert.Contains("DEPS-DOWNLOADED", otherLog, StringComparison.Ordinal);
        Assert.Contains("skipped: no cache saved", otherLog, StringComparison.Ordinal);
    }

    /// <summary>
    /// Issue 14's layers: exact hits of one key share this machine's read-only copy, each build writing only into its own
    /// overlay layer as the build user, inside the sandbox: a later build sees none of an earlier one's writes.
    /// </summary>
    [Fact]
    public async Task ExactHits_ShareTheMachinesReadOnlyCopy_AndNoBuildSeesAnothersWrites()
    {
        var root = TestPaths.NewTempDirectory("keyed-layers");
        var data = Path.Combine(root, "data");
        var project = $"kc-layers-{Guid.NewGuid():N}"[..24];
        await using var server = await ServerProcess.StartAsync(data);
        using var client = server.CreateClient();
        var files = ScriptProject();
        files["build.sh"] = "if [ -f \"$HOME/.deps/written-later\" ]; then echo SAW-ANOTHER-BUILDS-WRITE; fi\n" + files["build.sh"]
            + "if [ -f \"$HOME/.deps/lib.jar\" ] && [ ! -f out/.cold ]; then echo mine > \"$HOME/.deps/written-later\" && echo > \"$HOME/.deps/lib.jar\" && echo WROTE-INTO-THE-CACHE; fi\n";
        files["build.sh"] = files["build.sh"].Replace("mkdir -p \"$HOME/.deps\";", "mkdir -p \"$HOME/.deps\"; touch out/.cold;", StringComparison.Ordinal);

        var (_, coldLog) = await BuildAsync(client, project, files);
        var key = KeyIn(coldLog, "cache: saved ");
        var (_, madeLog) = await BuildAsync(client, project, files);
        var (_, sharedLog) = await BuildAsync(client, project, files);

        Assert.Contains("; its read-only copy stays on this machine for the next builds", madeLog, StringComparison.Ordinal);
        Assert.Contains("WROTE-INTO-THE-CACHE", madeLog, StringComparison.Ordinal); // the build user writes through its layer
        Assert.Contains($"cache: restored {key} (exact) from this machine's read-only copy in ", sharedLog, StringComparison.Ordinal);
        Assert.Contains("DEPS-FROM-CACHE", sharedLog, StringComparison.Ordinal);
        Assert.DoesNotContain("SAW-ANOTHER-BUILDS-WRITE", sharedLog, StringComparison.Ordinal);
        var copy = Path.Combine(data, "cache", "layers", project, key, "home", ".deps", "lib.jar");
        Assert.Equal(200_000, new FileInfo(copy).Length); // the copy is untouched by the build that overwrote it
        // Every build's mounts ended with it (other tests' builds may have theirs now: only this test's folder counts).
        Assert.DoesNotContain(File.ReadLines("/proc/self/mountinfo"), l => l.Contains(root, StringComparison.Ordinal));
    }

    /// <summary>A failed build never saves; cache: false in autobuilder.yml turns the cache off.</summary>
    [Fact]
    public async Task Build_FailedOrCacheOff_SavesNothing()
    {
        var root = TestPaths.NewTempDirectory("keyed-off");
        await using var server = await ServerProcess.StartAsync(Path.Combine(root, "data"));
        using var client = server.CreateClient();
        var project = $"kc-off-{Guid.NewGuid():N}"[..24];

        var failing = ScriptProject();
        failing["build.sh"] += "exit 3\n";
        var (failed, failedLog) = await BuildAsync(client, project, failing, BuildStatus.Failed);
        Assert.Equal(BuildStatus.Failed, failed.Status);
        Assert.DoesNotContain("cache: saved", failedLog, StringComparison.Ordinal);

        var off = ScriptProject();
        off["autobuilder.yml"] = "cache: false\noutputs: [out/**]\n";
        var (_, offLog) = await BuildAsync(client, project, off);
        Assert.Contains("[autobuilder] cache: off (autobuilder.yml)", offLog, StringComparison.Ordinal);
        Assert.DoesNotContain("cache: saved", offLog, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(root, "data", "blobs", "cache", project)));
    }

    private static async Task<(Core.Api.BuildDto Build, string Log)> BuildAsync(HttpClient client, string project, Dictionary<string, string> files, BuildStatus expected = BuildStatus.Succeeded)
    {
        var build = await ApiCalls.WaitForEndAsync(client, (await ApiCalls.StartBuildAsync(client, project, files)).Id, TimeSpan.FromMinutes(3));
        var log = await ApiCalls.GetLogAsync(client, build.Id);
        Assert.True(build.Status == expected, log);
        return (build, log);
    }

    /// <summary>The key a log line names, e.g. "cache: saved KEY, 3 files, ...".</summary>
    internal static string KeyIn(string log, string prefix)
    {
        var line = log.Split('\n').FirstOrDefault(l => l.Contains(prefix, StringComparison.Ordinal));
        Assert.True(line is not null, $"no line with '{prefix}' in:\n{log}");
        var rest = line[(line.IndexOf(prefix, StringComparison.Ordinal) + prefix.Length)..];
        return rest.Split(',', ' ')[0];
    }

    internal static Dictionary<string, string> SampleFiles(string sample)
    {
        var folder = Path.Combine(TestPaths.Samples, sample);
        return Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(folder, f).Replace('\\', '/'), File.ReadAllText);
    }

    internal static string Sha256Of(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));
}

/// <summary>Acceptance: the same restore and save on Azure Blob Storage (Azurite), through SAS links with Create alone.</summary>
public sealed class AzureKeyedCacheTests(AzureServerFixture fixture) : IClassFixture<AzureServerFixture>
{
    [Fact]
    public async Task Build_OnAzurite_SavesACreateOnlyArchiveWithItsHash_AndTheNextBuildRestoresIt()
    {
        var project = $"kc-azure-{Guid.NewGuid():N}"[..24];
        using var client = fixture.Server.CreateClient();
        var files = new Dictionary<string, string>
        {
            ["deps.txt"] = "lib 1.0\n",
            ["autobuilder.yml"] = "cache:\n  key: [deps.txt]\n  paths: [.deps]\noutputs: [out/**]\n",
            ["build.sh"] = "mkdir -p out\nif [ -f \"$HOME/.deps/lib.jar\" ]; then echo DEPS-FROM-CACHE; else echo DEPS-DOWNLOADED; mkdir -p \"$HOME/.deps\"; head -c 20000000 /dev/urandom > \"$HOME/.deps/lib.jar\"; fi\necho ok > out/ok.txt\n",
        };

        var first = await ApiCalls.WaitForEndAsync(client, (await ApiCalls.StartBuildAsync(client, project, files)).Id, TimeSpan.FromMinutes(3));
        var firstLog = await ApiCalls.GetLogAsync(client, first.Id);
        Assert.True(first.Status == BuildStatus.Succeeded, firstLog);
        var key = KeyedCacheTests.KeyIn(firstLog, "cache: saved ");

        // One committed block blob (20 MB: several staged blocks) whose recorded hash is its content's.
        var blob = fixture.Blobs.GetBlobContainerClient("cache").GetBlobClient($"{project}/script/{key}.tar.zst");
        var properties = (await blob.GetPropertiesAsync()).Value;
        var content = (await blob.DownloadContentAsync()).Value.Content.ToArray();
        Assert.Equal(KeyedCacheTests.Sha256Of(content), properties.Metadata["sha256"]);

        var second = await ApiCalls.WaitForEndAsync(client, (await ApiCalls.StartBuildAsync(client, project, files)).Id, TimeSpan.FromMinutes(3));
        var secondLog = await ApiCalls.GetLogAsync(client, second.Id);
        Assert.True(second.Status == BuildStatus.Succeeded, secondLog);
        Assert.Contains($"cache: restored {key} (exact), ", secondLog, StringComparison.Ordinal); // into this machine's read-only copy
        Assert.Contains("DEPS-FROM-CACHE", secondLog, StringComparison.Ordinal);
    }
}
