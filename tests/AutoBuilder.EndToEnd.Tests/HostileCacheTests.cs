using System.IO.Compression;
using AutoBuilder.Core.Builds;
using AutoBuilder.EndToEnd.Tests.Infrastructure;
using AutoBuilder.Runner.Caching;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>
/// Issue 18's keyed-cache findings through a real `autobuilder serve` as root: a cache path through a link the build
/// planted (finding 1), sandboxed and not, for cache.paths and for a toolchain's own folder; and a deleted cache that came
/// back from this machine's read-only copy (finding 6). Each failed on the code before the fix.
/// </summary>
public sealed class HostileCacheTests
{
    /// <summary>
    /// The attack as it was found: cache.paths [x/{the data folder}] and `ln -s / $HOME/x`. The root runner packed the
    /// host's data folder, and the next build (an exact hit) found admin.key under $HOME/x and put it in its result.zip.
    /// Now tar runs as the build user with the build's view, the link shows in its stream, and the path is skipped.
    /// </summary>
    [Theory]
    [InlineData("Auto")] // bubblewrap: tar runs in the build's sandbox
    [InlineData("Off")] // unsandboxed: tar runs as the build user (setpriv) with the host's view
    public async Task CachePathThroughALinkToTheHost_IsSkipped_AndNoHostFileIsArchivedOrRestored(string sandbox)
    {
        var root = TestPaths.NewTempDirectory("hostile-cache-link");
        var data = Path.Combine(root, "data");
        var project = $"hc-link-{Guid.NewGuid():N}"[..24];
        var path = "x/" + data.TrimStart('/');
        var files = new Dictionary<string, string>
        {
            ["lock.txt"] = "1\n",
            ["autobuilder.yml"] = $"cache:\n  key: [lock.txt]\n  paths: ['{path}']\noutputs: [out/**]\n",
            ["build.sh"] = "mkdir -p out\n"
                + $"if [ -e \"$HOME/{path}/admin.key\" ]; then echo FOUND-HOST-FILES; cp -r \"$HOME/{path}\" out/stolen; fi\n"
                + "[ -e \"$HOME/x\" ] || ln -s / \"$HOME/x\"\necho ok > out/ok.txt\n",
        };
        await using var server = await ServerProcess.StartAsync(data, new Dictionary<string, string> { ["Sandbox:Mode"] = sandbox });
        using var client = server.CreateClient();

        var (_, firstLog) = await BuildAsync(client, project, files);
        var (_, secondLog) = await BuildAsync(client, project, files);

        Assert.DoesNotContain("FOUND-HOST-FILES", secondLog, StringComparison.Ordinal);
        AssertNoHostFile(data, project, "admin.key", server.AdminKey);
        Assert.Contains($"cache: {path} not saved: 'x' is a link, and a cache path is never followed through one", firstLog, StringComparison.Ordinal);
    }

    /// <summary>
    /// The same through a toolchain's own two-component folder: `maven` (of maven/repository) made a link to a host
    /// folder holding repository/secret.txt (root's, 0600). The root runner packed it; the next build printed it.
    /// </summary>
    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task ToolchainFolderThroughALink_IsSkipped_AndNoHostFileIsArchivedOrRestored()
    {
        var root = TestPaths.NewTempDirectory("hostile-cache-maven");
        var data = Path.Combine(root, "data");
        var host = Path.Combine(root, "host");
        var secret = $"HOST-SECRET-{Guid.NewGuid():N}";
        Directory.CreateDirectory(Path.Combine(host, "repository"));
        await File.WriteAllTextAsync(Path.Combine(host, "repository", "secret.txt"), secret);
        File.SetUnixFileMode(Path.Combine(host, "repository", "secret.txt"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var project = $"hc-maven-{Guid.NewGuid():N}"[..24];
        var files = new Dictionary<string, string>
        {
            ["lock.txt"] = "1\n",
            ["autobuilder.yml"] = "toolchain: maven\ncommand: sh build.sh\ncache:\n  key: [lock.txt]\noutputs: [out/**]\n",
            ["build.sh"] = "mkdir -p out\n"
                + "if [ -e \"$AUTOBUILDER_CACHE/maven/repository/secret.txt\" ]; then echo FOUND-HOST-FILES; cat \"$AUTOBUILDER_CACHE/maven/repository/secret.txt\"; cp \"$AUTOBUILDER_CACHE/maven/repository/secret.txt\" out/; fi\n"
                + $"[ -e \"$AUTOBUILDER_CACHE/maven\" ] || ln -s {host} \"$AUTOBUILDER_CACHE/maven\"\necho ok > out/ok.txt\n",
        };
        await using var server = await ServerProcess.StartAsync(data);
        using var client = server.CreateClient();

        var (_, firstLog) = await BuildAsync(client, project, files);
        var (_, secondLog) = await BuildAsync(client, project, files);

        Assert.DoesNotContain("FOUND-HOST-FILES", secondLog, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, secondLog, StringComparison.Ordinal);
        AssertNoHostFile(data, project, "secret.txt", secret);
        Assert.Contains("cache: maven/repository not saved: 'maven' is a link, and a cache path is never followed through one", firstLog, StringComparison.Ordinal);
    }

    /// <summary>
    /// Finding 6: after DELETE .../caches and a cold build that saved new content under the same key, the next exact hit
    /// mounted this machine's old read-only copy (found by key alone). Now the delete removes the copy, and a copy is used
    /// only when its recorded SHA-256 is the catalog's: the next build restores nothing old.
    /// </summary>
    [Fact]
    public async Task AfterDeletingTheCaches_TheNextBuildRestoresNothingOld()
    {
        var root = TestPaths.NewTempDirectory("hostile-cache-delete");
        var data = Path.Combine(root, "data");
        var project = $"hc-delete-{Guid.NewGuid():N}"[..24];
        // Each cold build writes a new generation into the cache; a restored one prints the generation it found.
        var files = new Dictionary<string, string>
        {
            ["deps.txt"] = "lib 1.0\n",
            ["autobuilder.yml"] = "cache:\n  key: [deps.txt]\n  paths: [.deps]\noutputs: [out/**]\n",
            ["build.sh"] = "mkdir -p out\nif [ -f \"$HOME/.deps/generation\" ]; then echo \"RESTORED-$(cat \"$HOME/.deps/generation\")\"; else mkdir -p \"$HOME/.deps\"; echo \"$GENERATION\" > \"$HOME/.deps/generation\"; fi\necho ok > out/ok.txt\n",
        };
        await using var server = await ServerProcess.StartAsync(data);
        using var client = server.CreateClient();

        files["autobuilder.yml"] += "env:\n  GENERATION: old\n";
        var (_, coldLog) = await BuildAsync(client, project, files);
        var key = KeyedCacheTests.KeyIn(coldLog, "cache: saved ");
        var (_, copyLog) = await BuildAsync(client, project, files);
        Assert.Contains("RESTORED-old", copyLog, StringComparison.Ordinal);
        Assert.True(Directory.Exists(Path.Combine(data, "cache", "layers", project, key)), "the exact hit made this machine's read-only copy");

        using (var deleted = await client.DeleteAsync(new Uri($"/api/v1/projects/{project}/caches", UriKind.Relative)))
        {
            deleted.EnsureSuccessStatusCode();
        }

        var copyRemoved = !Directory.Exists(Path.Combine(data, "cache", "layers", project, key));

        // The same key, new content (env: is not part of the key): saved anew, and the exact hit after it sees only it.
        files["autobuilder.yml"] = files["autobuilder.yml"].Replace("GENERATION: old", "GENERATION: new", StringComparison.Ordinal);
        var (_, newLog) = await BuildAsync(client, project, files);
        Assert.Contains($"cache: saved {key}", newLog, StringComparison.Ordinal);
        var (_, nextLog) = await BuildAsync(client, project, files);
        Assert.Contains("RESTORED-new", nextLog, StringComparison.Ordinal);
        Assert.DoesNotContain("RESTORED-old", nextLog, StringComparison.Ordinal);
        Assert.True(copyRemoved, "the delete removed this machine's copy");
    }

    /// <summary>No archive of the project, no machine copy of it and no result.zip holds the host's file.</summary>
    private static void AssertNoHostFile(string data, string project, string fileName, string content)
    {
        var archives = Path.Combine(data, "blobs", "cache", project);
        if (Directory.Exists(archives))
        {
            foreach (var archive in Directory.EnumerateFiles(archives, "*.tar.zst", SearchOption.AllDirectories))
            {
                var unpacked = Path.Combine(data, "..", "unpacked-" + Guid.NewGuid().ToString("N"));
                using (var stream = File.OpenRead(archive))
                {
                    CacheArchive.UnpackAsync(stream, unpacked).GetAwaiter().GetResult();
                }

                Assert.Empty(Directory.EnumerateFiles(unpacked, fileName, SearchOption.AllDirectories));
            }
        }

        var layers = Path.Combine(data, "cache", "layers", project);
        if (Directory.Exists(layers))
        {
            Assert.Empty(Directory.EnumerateFiles(layers, fileName, SearchOption.AllDirectories));
        }

        foreach (var result in Directory.EnumerateFiles(Path.Combine(data, "blobs"), "result.zip", SearchOption.AllDirectories).Where(p => p.Contains(project, StringComparison.Ordinal)))
        {
            using var zip = ZipFile.OpenRead(result);
            Assert.DoesNotContain(zip.Entries, e => e.Name == fileName);
            foreach (var entry in zip.Entries)
            {
                using var reader = new StreamReader(entry.Open());
                Assert.DoesNotContain(content, reader.ReadToEnd(), StringComparison.Ordinal);
            }
        }
    }

    private static async Task<(Core.Api.BuildDto Build, string Log)> BuildAsync(HttpClient client, string project, Dictionary<string, string> files)
    {
        var build = await ApiCalls.WaitForEndAsync(client, (await ApiCalls.StartBuildAsync(client, project, files)).Id, TimeSpan.FromMinutes(3));
        var log = await ApiCalls.GetLogAsync(client, build.Id);
        Assert.True(build.Status == BuildStatus.Succeeded, log);
        return (build, log);
    }
}
