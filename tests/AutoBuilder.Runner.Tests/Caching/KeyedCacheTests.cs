using System.Net;
using System.Net.Http.Headers;
using AutoBuilder.Core.Protocol;
using AutoBuilder.Core.Storage;
using AutoBuilder.Runner.Api;
using AutoBuilder.Runner.Caching;
using AutoBuilder.Server.Persistence;
using AutoBuilder.Tests.Shared;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace AutoBuilder.Runner.Tests.Caching;

/// <summary>
/// <see cref="KeyedCache"/> against the real server (API role, filesystem blob store): each test claims real builds of
/// one project and saves and restores through the runner protocol and signed links, then looks at the rows, the blobs and
/// the log lines a build would get.
/// </summary>
public sealed class KeyedCacheTests : IAsyncLifetime
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(2);
    private readonly TempDirectory _temp = new();
    private InProcessServer _server = null!;
    private int _builds;

    public async Task InitializeAsync() => _server = await RealServer.StartAsync();

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _temp.Dispose();
    }

    [Fact]
    public async Task SaveThenRestore_RoundTripsTheToolchainsFolderAndHomePaths_LeavingOutGradleLocks()
    {
        var first = await NewBuildAsync("gradle");
        Assert.False(await first.Cache.RestoreAsync(first.Plan, Limit, default));
        WriteFile(first.Plan.CacheRoot, "gradle/caches/modules-2/files-2.1/org/lib/1.0/lib-1.0.jar", "jar");
        WriteFile(first.Plan.CacheRoot, "gradle/caches/modules-2/modules-2.lock", "lock");
        WriteFile(first.Plan.CacheRoot, "gradle/caches/journal-1/journal-1.bin", "journal");
        WriteFile(first.Plan.CacheRoot, "gradle/daemon/8.0/daemon.log", "log");
        WriteFile(first.Plan.CacheRoot, "gradle/caches/8.0/gc.properties", "gc");
        WriteFile(first.Plan.Home, ".konan/deps/tool.bin", "tool");
        WriteFile(first.Plan.CacheRoot, "npm/other-toolchain.txt", "not gradle's");

        await first.Cache.SaveAsync(first.Plan, Limit, default);

        Assert.Contains($"cache: restore of {first.Plan.Key.Key} skipped: no cache saved under this key or its restore keys; building cold", first.Log);
        Assert.True(first.Log.Any(l => l.StartsWith($"cache: saved {first.Plan.Key.Key}, 2 files, ", StringComparison.Ordinal)), string.Join("\n", first.Log));
        var row = await SingleRowAsync();
        var blob = _server.BlobPath("cache", $"demo/gradle/{first.Plan.Key.Key}.tar.zst");
        Assert.Equal(new FileInfo(blob).Length, row.Size);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(blob))), row.Sha256);

        var second = await NewBuildAsync("gradle");
        Assert.True(await second.Cache.RestoreAsync(second.Plan, Limit, default));

        Assert.Contains(second.Log, l => l.StartsWith($"cache: restored {second.Plan.Key.Key} (exact), 2 files, ", StringComparison.Ordinal));
        Assert.Equal("jar", File.ReadAllText(Path.Combine(second.Plan.CacheRoot, "gradle/caches/modules-2/files-2.1/org/lib/1.0/lib-1.0.jar")));
        Assert.Equal("tool", File.ReadAllText(Path.Combine(second.Plan.Home, ".konan/deps/tool.bin")));
        Assert.False(File.Exists(Path.Combine(second.Plan.CacheRoot, "gradle/caches/modules-2/modules-2.lock")));
        Assert.False(Directory.Exists(Path.Combine(second.Plan.CacheRoot, "gradle/daemon")));
        Assert.False(Directory.Exists(Path.Combine(second.Plan.CacheRoot, "gradle/caches/journal-1")));
        Assert.False(File.Exists(Path.Combine(second.Plan.CacheRoot, "gradle/caches/8.0/gc.properties")));
        Assert.False(Directory.Exists(Path.Combine(second.Plan.CacheRoot, "npm")));
    }

    [Fact]
    public async Task Restore_ChangedManifests_RestoresTheNearestOlderCacheFromTheRestoreKey()
    {
        var first = await NewBuildAsync("maven", pom: "<project>v1</project>");
        WriteFile(first.Plan.CacheRoot, "maven/repository/junit/junit/4.13/junit-4.13.jar", "junit");
        await first.Cache.SaveAsync(first.Plan, Limit, default);

        var second = await NewBuildAsync("maven", pom: "<project>v2</project>");
        Assert.NotEqual(first.Plan.Key.Key, second.Plan.Key.Key);
        Assert.False(await second.Cache.RestoreAsync(second.Plan, Limit, default)); // not exact: it saves after its build

        Assert.Contains(second.Log, l => l.StartsWith($"cache: restored {first.Plan.Key.Key} (from restore key maven-), 1 files, ", StringComparison.Ordinal));
        Assert.True(File.Exists(Path.Combine(second.Plan.CacheRoot, "maven/repository/junit/junit/4.13/junit-4.13.jar")));
    }

    [Theory]
    [InlineData("corrupt", "the cache archive")]
    [InlineData("other-hash", "the cache archive's SHA-256 is")]
    [InlineData("missing", "download failed: HTTP 404")]
    [InlineData("unreachable", "download failed after 4 attempts: ")]
    public async Task Restore_BrokenArchive_IsSkippedWithOneLine_AndLeavesTheCacheEmpty(string damage, string reason)
    {
        var first = await NewBuildAsync("maven");
        WriteFile(first.Plan.CacheRoot, "maven/repository/junit/junit/4.13/junit-4.13.jar", new string('j', 100_000));
        await first.Cache.SaveAsync(first.Plan, Limit, default);
        var blob = _server.BlobPath("cache", $"demo/maven/{first.Plan.Key.Key}.tar.zst");
        var bytes = File.ReadAllBytes(blob);
        switch (damage)
        {
            case "corrupt":
                Array.Fill(bytes, (byte)0x5a, bytes.Length / 2, bytes.Length / 2);
                File.WriteAllBytes(blob, bytes);
                break;
            case "other-hash":
                // A valid archive, but not the registered one.
                var other = await NewBuildAsync("maven", pom: "<project>other</project>");
                var tree = Path.Combine(other.Plan.Workspace, "other-archive");
                WriteFile(tree, "cache/maven/repository/evil/evil.jar", "evil");
                await using (var stream = File.Create(blob))
                {
                    await CacheArchive.PackAsync(tree, stream);
                }

                break;
            case "missing":
                File.Delete(blob);
                break;
        }

        // Unreachable: the blob store's address refuses the runner (the API still answers).
        var second = await NewBuildAsync("maven", handler: damage == "unreachable" ? new UnreachableBlobs() : null);
        Assert.False(await second.Cache.RestoreAsync(second.Plan, Limit, default));

        var line = Assert.Single(second.Log, l => l.StartsWith("cache: ", StringComparison.Ordinal));
        Assert.StartsWith($"cache: restore of {second.Plan.Key.Key} skipped: ", line, StringComparison.Ordinal);
        Assert.True(line.Contains(reason, StringComparison.Ordinal), line);
        Assert.EndsWith("; building cold", line, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(second.Plan.CacheRoot, "maven")), "a failed restore leaves nothing to build on");
        Assert.False(Directory.Exists(Path.Combine(second.Plan.Workspace, "cache-restore")));
    }

    [Fact]
    public async Task Save_AfterTheRestoreFoundTheArchiveCorrupt_ReplacesTheEntry_SoTheProjectRecovers()
    {
        var first = await NewBuildAsync("maven");
        WriteFile(first.Plan.CacheRoot, "maven/repository/junit/junit/4.13/junit-4.13.jar", new string('j', 100_000));
        await first.Cache.SaveAsync(first.Plan, Limit, default);
        var broken = await SingleRowAsync();
        var blob = _server.BlobPath("cache", $"demo/maven/{first.Plan.Key.Key}.tar.zst");
        var bytes = File.ReadAllBytes(blob);
        Array.Fill(bytes, (byte)0x5a, bytes.Length / 2, bytes.Length / 2);
        File.WriteAllBytes(blob, bytes);

        // The next build restores nothing, builds cold and saves: its save replaces the broken entry of the same key.
        var second = await NewBuildAsync("maven");
        Assert.False(await second.Cache.RestoreAsync(second.Plan, Limit, default));
        WriteFile(second.Plan.CacheRoot, "maven/repository/junit/junit/4.13/junit-4.13.jar", new string('k', 100_000));
        await second.Cache.SaveAsync(second.Plan, Limit, default);

        Assert.Contains(second.Log, l => l.StartsWith($"cache: saved {second.Plan.Key.Key}", StringComparison.Ordinal));
        var replaced = await SingleRowAsync();
        Assert.NotEqual(broken.Id, replaced.Id);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(blob))), replaced.Sha256);
        var third = await NewBuildAsync("maven");
        Assert.True(await third.Cache.RestoreAsync(third.Plan, Limit, default));
        Assert.Equal(new string('k', 100_000), File.ReadAllText(Path.Combine(third.Plan.CacheRoot, "maven/repository/junit/junit/4.13/junit-4.13.jar")));
    }

    [Fact]
    public async Task Save_TwoBuildsOfOneKeyAtOnce_LeaveOneCompleteArchiveAndOneRow()
    {
        var builds = new[] { await NewBuildAsync("maven"), await NewBuildAsync("maven") };
        foreach (var (build, i) in builds.Select((b, i) => (b, i)))
        {
            // Different content (as two real builds' caches differ): only one of them may end up under the key.
            WriteFile(build.Plan.CacheRoot, "maven/repository/junit/junit/4.13/junit-4.13.jar", new string((char)('a' + i), 3_000_000));
        }

        await Task.WhenAll(builds.Select(b => Task.Run(() => b.Cache.SaveAsync(b.Plan, Limit, default))));

        var lines = builds.SelectMany(b => b.Log).Where(l => l.StartsWith("cache: ", StringComparison.Ordinal)).ToList();
        var key = builds[0].Plan.Key.Key;
        Assert.Single(lines, l => l.StartsWith($"cache: saved {key}", StringComparison.Ordinal));
        Assert.Single(lines, l => l.StartsWith($"cache: {key} was saved by another build first", StringComparison.Ordinal));
        var row = await SingleRowAsync();
        var blob = _server.BlobPath("cache", $"demo/maven/{key}.tar.zst");
        Assert.Equal(row.Sha256, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(blob))));

        // And the archive restores whole.
        var third = await NewBuildAsync("maven");
        Assert.True(await third.Cache.RestoreAsync(third.Plan, Limit, default));
        Assert.Equal(3_000_000, new FileInfo(Path.Combine(third.Plan.CacheRoot, "maven/repository/junit/junit/4.13/junit-4.13.jar")).Length);
    }

    [Fact]
    public async Task Save_AfterASaverDiedMidUpload_NothingIsVisibleAndTheNextBuildSaves()
    {
        var dead = await NewBuildAsync("maven");
        var key = dead.Plan.Key.Key;
        var grant = await dead.Api.SaveCacheAsync(new CacheSaveRequest("maven", key));
        Assert.NotNull(grant.Url);

        // The dying saver: its upload breaks off halfway through the body.
        using (var http = new HttpClient())
        {
            using var content = new StreamContent(new BreakingStream(4 * 1024 * 1024, breakAfter: 1024 * 1024));
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            await Assert.ThrowsAnyAsync<Exception>(() => http.PutAsync(grant.Url, content));
        }

        Assert.Null(await _server.Services.GetRequiredService<IBlobStore>().GetPropertiesAsync(_server.Services.GetRequiredService<BlobLayout>().CacheArchive("demo", "maven", key)));
        Assert.Null(await _server.Services.CreateAsyncScope().ServiceProvider.GetRequiredService<AutoBuilderDbContext>().CacheEntries.FirstOrDefaultAsync());

        var next = await NewBuildAsync("maven");
        WriteFile(next.Plan.CacheRoot, "maven/repository/junit/junit/4.13/junit-4.13.jar", "junit");
        await next.Cache.SaveAsync(next.Plan, Limit, default);

        Assert.Contains(next.Log, l => l.StartsWith($"cache: saved {key}", StringComparison.Ordinal));
        Assert.Equal(key, (await SingleRowAsync()).Key);
    }

    [Fact]
    public async Task Save_OverMaxArchiveBytes_IsSkippedWithOneLine()
    {
        var build = await NewBuildAsync("maven", maxArchiveBytes: 64 * 1024);
        WriteFile(build.Plan.CacheRoot, "maven/repository/big/big.jar", Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(300_000)));

        await build.Cache.SaveAsync(build.Plan, Limit, default);

        Assert.Contains($"cache: {build.Plan.Key.Key} not saved: its archive would exceed Caches:MaxArchiveBytes (64 KB)", build.Log);
        Assert.Null(await _server.Services.CreateAsyncScope().ServiceProvider.GetRequiredService<AutoBuilderDbContext>().CacheEntries.FirstOrDefaultAsync());
        Assert.False(File.Exists(Path.Combine(build.Plan.Workspace, "cache-save.tar.zst")));
    }

    [Fact]
    public async Task Save_PastTheProjectsLimit_EvictsTheLeastRecentlyUsedArchive_NeverTheOneJustSaved()
    {
        await _server.DisposeAsync();
        _server = await RealServer.StartAsync(new Dictionary<string, string?> { ["Caches:MaxProjectBytes"] = "1048576", ["Caches:MaxArchiveBytes"] = "1048576" });
        var saved = new List<string>();
        foreach (var version in new[] { "1", "2", "3" })
        {
            // ~450 KB compressed each (base64 of random bytes): two fit under 1 MiB, three do not.
            var build = await NewBuildAsync("maven", pom: $"<project><version>{version}</version></project>");
            WriteFile(build.Plan.CacheRoot, $"maven/repository/lib/{version}/lib.jar", Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(450_000)));
            await build.Cache.SaveAsync(build.Plan, Limit, default);
            Assert.Contains(build.Log, l => l.StartsWith($"cache: saved {build.Plan.Key.Key}", StringComparison.Ordinal));
            saved.Add(build.Plan.Key.Key);
        }

        await using var scope = _server.Services.CreateAsyncScope();
        var keys = await scope.ServiceProvider.GetRequiredService<AutoBuilderDbContext>().CacheEntries.AsNoTracking().Select(e => e.Key).ToListAsync();
        Assert.Equal(saved[1..].Order(), keys.Order());
        Assert.False(File.Exists(_server.BlobPath("cache", $"demo/maven/{saved[0]}.tar.zst")));
        Assert.True(File.Exists(_server.BlobPath("cache", $"demo/maven/{saved[2]}.tar.zst")));
    }

    [Fact]
    public async Task Restore_ExactHitWithLayers_MountsThisMachinesReadOnlyCopy_WhichNoBuildsWritesReach()
    {
        Assert.True(Environment.IsPrivilegedProcess, "cache layers mount overlays: this test runs as root, as CI does");
        var layers = CacheLayers.For(_temp.Combine("machine-cache"), maxBytes: 1L << 30);
        Assert.NotNull(layers);
        var first = await NewBuildAsync("maven");
        WriteFile(first.Plan.CacheRoot, "maven/repository/org/lib/1.0/lib-1.0.jar", "jar");
        await first.Cache.SaveAsync(first.Plan, Limit, default);

        // The first exact hit makes the machine's copy and mounts it; the build writes into its own upper layer.
        var second = await NewBuildAsync("maven");
        Assert.True(await second.Cache.RestoreAsync(second.Plan, Limit, default, new LayerRequest(layers, "demo", null)));
        var repository = Path.Combine(second.Plan.CacheRoot, "maven/repository");
        Assert.Equal([repository], second.Cache.Mounted);
        Assert.Contains(second.Log, l => l.StartsWith($"cache: restored {second.Plan.Key.Key} (exact), ", StringComparison.Ordinal) && l.EndsWith("its read-only copy stays on this machine for the next builds", StringComparison.Ordinal));
        Assert.Equal("jar", File.ReadAllText(Path.Combine(repository, "org/lib/1.0/lib-1.0.jar")));
        File.WriteAllText(Path.Combine(repository, "org/lib/1.0/lib-1.0.jar"), "poisoned");
        WriteFile(repository, "org/new/added.txt", "second's own");
        Assert.True(MountedAt(repository));

        // The next build of the key mounts the same copy: none of the second build's writes reach it.
        var third = await NewBuildAsync("maven");
        Assert.True(await third.Cache.RestoreAsync(third.Plan, Limit, default, new LayerRequest(layers, "demo", null)));
        var thirds = Path.Combine(third.Plan.CacheRoot, "maven/repository");
        Assert.Contains(third.Log, l => l == $"cache: restored {third.Plan.Key.Key} (exact) from this machine's read-only copy in {l[(l.LastIndexOf(" in ", StringComparison.Ordinal) + 4)..]}");
        Assert.Equal("jar", File.ReadAllText(Path.Combine(thirds, "org/lib/1.0/lib-1.0.jar")));
        Assert.False(File.Exists(Path.Combine(thirds, "org/new/added.txt")));

        // After the builds their mounts are gone and their workspaces delete like any folder.
        second.Cache.Dispose();
        third.Cache.Dispose();
        Assert.False(MountedAt(repository));
        Assert.False(MountedAt(thirds));
        Directory.Delete(second.Plan.Workspace, recursive: true);
        Assert.Equal("jar", File.ReadAllText(Path.Combine(layers.Root, "demo", third.Plan.Key.Key, "cache/maven/repository/org/lib/1.0/lib-1.0.jar")));
    }

    [Fact]
    public void Layers_PastTheirLimit_EvictTheLeastRecentlyUsedCopy_NeverOneInUse()
    {
        Assert.True(Environment.IsPrivilegedProcess, "cache layers are root's: this test runs as root, as CI does");
        var layers = CacheLayers.For(_temp.Combine("machine-cache"), maxBytes: 1000)!;
        CacheLayers.Lease Add(string key) => layers.AddAsync("demo", key, Sha, null, folder =>
        {
            WriteFile(folder, "cache/maven/repository/a.jar", new string('x', 600));
            return Task.FromResult(600L);
        }).GetAwaiter().GetResult();

        var inUse = Add("k1");
        Add("k2").Dispose(); // 1,200 bytes > 1,000, but k1, the older, is in use: nothing goes
        Assert.True(Directory.Exists(Path.Combine(layers.Root, "demo", "k1")));
        Assert.True(Directory.Exists(Path.Combine(layers.Root, "demo", "k2")));

        inUse.Dispose();
        Add("k3").Dispose(); // 1,800 bytes: the free copies go, least recently used first, until the rest fit

        Assert.Null(layers.Find("demo", "k1", Sha));
        Assert.False(Directory.Exists(Path.Combine(layers.Root, "demo", "k1")));
        Assert.False(Directory.Exists(Path.Combine(layers.Root, "demo", "k2")));
        using var k3 = layers.Find("demo", "k3", Sha);
        Assert.NotNull(k3);
    }

    /// <summary>
    /// Issue 18, finding 6: a copy is found by key but used only for the archive it was made from. One of another archive
    /// (the cache was deleted and saved anew) is not found, and the next exact hit replaces it; Remove deletes a copy.
    /// </summary>
    [Fact]
    public async Task Layers_ACopyOfAnotherArchive_IsNotUsed_AndIsReplaced_AndRemoveDeletesIt()
    {
        Assert.True(Environment.IsPrivilegedProcess, "cache layers are root's: this test runs as root, as CI does");
        var cacheDirectory = _temp.Combine("machine-cache");
        var layers = CacheLayers.For(cacheDirectory, maxBytes: long.MaxValue)!;
        var newSha = new string('b', 64);
        Task<long> Fill(string folder, string content)
        {
            WriteFile(folder, "home/.deps/generation", content);
            return Task.FromResult(3L);
        }

        (await layers.AddAsync("demo", "k", Sha, null, folder => Fill(folder, "old"))).Dispose();

        Assert.Null(layers.Find("demo", "k", newSha));
        using (var replaced = await layers.AddAsync("demo", "k", newSha, null, folder => Fill(folder, "new")))
        {
            Assert.Equal("new", File.ReadAllText(Path.Combine(replaced.Copy, "home/.deps/generation")));
        }

        Assert.Null(layers.Find("demo", "k", Sha));
        Assert.True(CacheLayers.Remove(cacheDirectory, "demo", "k"));
        Assert.False(Directory.Exists(Path.Combine(layers.Root, "demo", "k")));
    }

    /// <summary>The SHA-256 the layer tests' copies are recorded as made from.</summary>
    private static readonly string Sha = new('a', 64);

    private static bool MountedAt(string path) =>
        File.ReadLines("/proc/self/mountinfo").Any(line => line.Split(' ') is { Length: > 4 } fields && fields[4] == path);

    /// <summary>One build of project demo, claimed, with its own workspace, a source of the toolchain's manifests and a plan.</summary>
    private async Task<TestBuild> NewBuildAsync(string toolchain, string pom = "<project/>", long maxArchiveBytes = 1L << 30, HttpMessageHandler? handler = null)
    {
        var n = Interlocked.Increment(ref _builds);
        var build = await _server.StartBuildAsync("demo", RealServer.Zip(TestZip.File("build.sh", "true")));
        var token = await _server.ClaimAsync(build.Id);
        var workspace = Directory.CreateDirectory(_temp.Combine($"ws-{n}")).FullName;
        var source = Directory.CreateDirectory(Path.Combine(workspace, "src")).FullName;
        File.WriteAllText(Path.Combine(source, toolchain == "maven" ? "pom.xml" : "build.gradle"), pom);
        var config = toolchain == "gradle" ? new AutoBuilder.Runner.Configuration.CacheConfig { Paths = [".konan"] } : null;
        var plan = KeyedCache.Plan(source, toolchain, config, KeyedCache.PrivateFolder(workspace), Path.Combine(workspace, "home"), workspace, maxArchiveBytes)!;
        var api = new RunnerApiClient(handler is null ? new HttpClient() : new HttpClient(handler), _server.Url, build.Id, token, NullLogger.Instance);
        var log = new List<string>();
        var cache = new KeyedCache(api, (line, _) =>
        {
            lock (log)
            {
                log.Add(line);
            }

            return ValueTask.CompletedTask;
        });
        return new TestBuild(plan, cache, api, log);
    }

    private async Task<CacheEntryEntity> SingleRowAsync()
    {
        await using var scope = _server.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AutoBuilderDbContext>().CacheEntries.AsNoTracking().SingleAsync();
    }

    private static void WriteFile(string root, string relative, string content)
    {
        var path = Path.Combine(root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
    }

    /// <summary>The network between runner and blob store is down: every signed blob URL is refused; runner calls go through.</summary>
    private sealed class UnreachableBlobs() : DelegatingHandler(new SocketsHttpHandler())
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            request.RequestUri!.AbsolutePath.StartsWith("/blobs/", StringComparison.Ordinal)
                ? throw new HttpRequestException("Connection refused (127.0.0.1)")
                : base.SendAsync(request, cancellationToken);
    }

    private sealed record TestBuild(CachePlan Plan, KeyedCache Cache, RunnerApiClient Api, List<string> Log);

    /// <summary>A body that claims more than it gives: it fails after <c>breakAfter</c> bytes, as a killed saver's would.</summary>
    private sealed class BreakingStream(long length, long breakAfter) : Stream
    {
        private long _position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_position >= breakAfter)
            {
                throw new IOException("the saver died");
            }

            var n = (int)Math.Min(count, breakAfter - _position);
            Array.Fill(buffer, (byte)1, offset, n);
            _position += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
