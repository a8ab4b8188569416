using System.Globalization;
using System.Net.Http.Json;
using System.Security.Cryptography;
using AutoBuilder.Core;
using AutoBuilder.Core.Api;
using AutoBuilder.Core.Builds;
using AutoBuilder.Core.Protocol;
using AutoBuilder.EndToEnd.Tests.Infrastructure;
using AutoBuilder.Server.LegacyImport;

namespace AutoBuilder.EndToEnd.Tests.LegacyImport;

/// <summary>The generated legacy volume, written once per test class: a few hundred projects, thousands of files, one of 200 MB.</summary>
public sealed class LegacyVolumeFixture : IDisposable
{
    public const long BigFileBytes = 200L * 1024 * 1024;

    public LegacyVolumeFixture()
    {
        Root = TestPaths.NewTempDirectory("legacy-volume");
        Volume = LegacyVolumeGenerator.Generate(Root, projects: 300, BigFileBytes, cacheFiles: 1600);
    }

    public string Root { get; }

    public LegacyVolumeGenerator Volume { get; }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}

/// <summary>
/// `autobuilder migrate` end to end, with the real executable, against one blob store (a subclass per store):
/// migrate and verify, re-run, SIGKILL and resume, corruption found by --verify-only, a dry run that writes nothing,
/// and the result seen through the real server's API and signed links.
/// </summary>
public abstract class MigrateTests(LegacyVolumeFixture fixture) : IAsyncLifetime
{
    private readonly List<string> _folders = [];

    private LegacyVolumeGenerator Volume => fixture.Volume;

    /// <summary>Configuration keys (Section:Key) naming the store, for a data folder; the same for migrate and serve.</summary>
    protected abstract Task<IReadOnlyDictionary<string, string>> StoreSettingsAsync(string dataDirectory);

    /// <summary>Replaces a stored blob's bytes with others of the same length, behind the tool's back.</summary>
    protected abstract Task CorruptBlobAsync(string dataDirectory, string container, string path);

    /// <summary>How many blobs the store holds now (complete ones: what a reader could see).</summary>
    protected abstract Task<int> CountBlobsAsync(string dataDirectory);

    /// <summary>Asserts that nothing at all was written to the store of this data folder.</summary>
    protected abstract Task AssertStoreUntouchedAsync(string dataDirectory);

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        foreach (var folder in _folders.Where(Directory.Exists))
        {
            Directory.Delete(folder, recursive: true);
        }

        return Task.CompletedTask;
    }

    [Fact]
    public async Task Migrate_copies_and_verifies_everything_and_the_api_serves_it()
    {
        var data = NewDataDirectory();
        var settings = await StoreSettingsAsync(data);
        var before = LegacyVolumeGenerator.Snapshot(fixture.Root);
        var files = Volume.MigratedFiles.ToList();

        var first = await MigrateAsync(settings, data, "--include-cache");

        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Contains($"copied {N(files.Count)} ", first.Stdout, StringComparison.Ordinal);
        Assert.Contains("mismatched 0, missing 0", first.Stdout, StringComparison.Ordinal);
        Assert.Contains("Verification clean", first.Stdout, StringComparison.Ordinal);
        Assert.Contains("The old volume may be deleted", first.Stdout, StringComparison.Ordinal);
        // Unrecognised paths are listed, not dropped.
        Assert.Contains("lost+found/ (folder, 2 files", first.Stdout, StringComparison.Ordinal);
        Assert.Contains($"projects/{Volume.Projects[0].LegacyName}/source/ (folder, 1 files", first.Stdout, StringComparison.Ordinal);
        // Plain progress lines, since the output is not a terminal.
        Assert.Matches(@"copy: [\d,]+/[\d,]+ files, .* done in", first.Stdout);
        Assert.Equal(files.Count, await CountBlobsAsync(data));
        Assert.Equal(before, LegacyVolumeGenerator.Snapshot(fixture.Root));

        await using var server = await ServerProcess.StartAsync(data, WithGenerousRateLimits(settings));
        using var client = server.CreateClient();
        await AssertImportedThroughApiAsync(client);

        // The 200 MB result downloads through a signed link, without the API key, byte for byte.
        var big = Volume.BigFile!;
        var bigBuild = Assert.Single(await GetAsync<BuildDto[]>(client, ApiRoutes.ProjectBuilds("big-project")));
        var link = await GetAsync<SignedLink>(client, ApiRoutes.BuildResult(bigBuild.Id));
        using (var anonymous = new HttpClient { Timeout = TimeSpan.FromMinutes(5) })
        await using (var download = await anonymous.GetStreamAsync(link.Url))
        {
            Assert.Equal(big.Sha256, Convert.ToHexStringLower(await SHA256.HashDataAsync(download)));
        }

        // A migrated log reads back through the log endpoint.
        var log = Volume.Projects[1].Logs.Single(l => l.Name == "build.log").File;
        var logBuild = Assert.Single(await GetAsync<BuildDto[]>(client, ApiRoutes.ProjectBuilds(LegacyNames.ProjectId(Volume.Projects[1].LegacyName))));
        using var logResponse = await ApiCalls.GetPolitelyAsync(client, ApiRoutes.BuildLog(logBuild.Id));
        Assert.Equal(log.Sha256, Convert.ToHexStringLower(SHA256.HashData(await logResponse.Content.ReadAsByteArrayAsync())));
    }

    /// <summary>
    /// SIGKILL half-way, run again: a clean verify, every file copied or skipped exactly once, no duplicate record.
    /// A third run then copies nothing. (A [Fact] in the filesystem class; costly on Azurite, so not repeated there.)
    /// </summary>
    protected async Task KilledRunResumesAndASecondRunCopiesNothingAsync()
    {
        var data = NewDataDirectory();
        var settings = await StoreSettingsAsync(data);
        var total = Volume.MigratedFiles.Count();

        using (var process = CliProcess.Start(TestPaths.RepoRoot, Environment(settings), "migrate", "--from", fixture.Root, "--data", data, "--include-cache", "--parallel", "2"))
        {
            process.StandardOutput.BaseStream.CopyToAsync(Stream.Null).ContinueWith(_ => { }, TaskScheduler.Default).GetAwaiter();
            process.StandardError.BaseStream.CopyToAsync(Stream.Null).ContinueWith(_ => { }, TaskScheduler.Default).GetAwaiter();
            using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            while (await CountBlobsAsync(data) < 300)
            {
                Assert.False(process.HasExited, $"migrate ended (exit code {(process.HasExited ? process.ExitCode : 0)}) before it could be killed");
                await Task.Delay(20, limit.Token);
            }

            process.Kill(entireProcessTree: false); // SIGKILL: no clean-up code runs
            await process.WaitForExitAsync(limit.Token);
        }

        var copiedBeforeKill = await CountBlobsAsync(data);
        Assert.InRange(copiedBeforeKill, 300, total - 1); // it really was half-way

        var rerun = await MigrateAsync(settings, data, "--include-cache");

        Assert.True(rerun.ExitCode == 0, rerun.ToString());
        Assert.Contains("Verification clean", rerun.Stdout, StringComparison.Ordinal);
        var counts = System.Text.RegularExpressions.Regex.Match(rerun.Stdout, @"copied ([\d,]+) \(.*?\), skipped ([\d,]+) already identical");
        Assert.True(counts.Success, rerun.Stdout);
        var copied = int.Parse(counts.Groups[1].Value, NumberStyles.AllowThousands, CultureInfo.InvariantCulture);
        var skipped = int.Parse(counts.Groups[2].Value, NumberStyles.AllowThousands, CultureInfo.InvariantCulture);
        Assert.Equal(total, copied + skipped);
        Assert.True(skipped >= copiedBeforeKill, $"skipped {skipped}, but {copiedBeforeKill} were stored before the kill");
        Assert.Equal(total, await CountBlobsAsync(data));

        var third = await MigrateAsync(settings, data, "--include-cache");
        Assert.True(third.ExitCode == 0, third.ToString());
        Assert.Contains($"copied 0 (0 B), skipped {N(total)} already identical", third.Stdout, StringComparison.Ordinal);
        Assert.Contains("Verification clean", third.Stdout, StringComparison.Ordinal);

        await using var server = await ServerProcess.StartAsync(data, WithGenerousRateLimits(settings));
        using var client = server.CreateClient();
        await AssertImportedThroughApiAsync(client);
    }

    [Fact]
    public async Task Verify_only_names_a_corrupted_blob_exits_non_zero_and_repairs_nothing()
    {
        var root = NewDataDirectory();
        var legacy = Path.Combine(root, "legacy");
        var data = Path.Combine(root, "data");
        var small = LegacyVolumeGenerator.Generate(legacy, projects: 12, bigFileBytes: 0, cacheFiles: 0);
        var settings = await StoreSettingsAsync(data);

        var unknownOwner = await MigrateFromAsync(settings, data, legacy, "--owner", "ghost");
        Assert.True(unknownOwner.ExitCode == 2, unknownOwner.ToString());
        Assert.Contains("User 'ghost' does not exist", unknownOwner.Stderr, StringComparison.Ordinal);

        var migrated = await MigrateFromAsync(settings, data, legacy);
        Assert.True(migrated.ExitCode == 0, migrated.ToString());

        var victim = small.Projects[1];
        var projectId = LegacyNames.ProjectId(victim.LegacyName);
        await CorruptBlobAsync(data, "projects", $"{projectId}/builds/1/result.zip");

        var verify = await MigrateFromAsync(settings, data, legacy, "--verify-only");

        Assert.True(verify.ExitCode == 1, verify.ToString());
        Assert.Matches($@"MISMATCHED {System.Text.RegularExpressions.Regex.Escape(victim.Result!.RelativePath)} -> [a-z0-9-]*projects/{projectId}/builds/1/result\.zip: SHA-256 differs", verify.Stdout);
        Assert.Contains("mismatched 1, missing 0", verify.Stdout, StringComparison.Ordinal);
        Assert.Contains("do not delete the old volume", verify.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("may be deleted", verify.Stdout, StringComparison.Ordinal);

        // --verify-only copied nothing: the blob is still wrong, and a copying run replaces it (the import owns that path).
        var repair = await MigrateFromAsync(settings, data, legacy);
        Assert.True(repair.ExitCode == 0, repair.ToString());
        Assert.Contains("copied 1 ", repair.Stdout, StringComparison.Ordinal);
        Assert.Contains("Verification clean", repair.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dry_run_prints_the_plan_and_writes_nothing()
    {
        var data = Path.Combine(NewDataDirectory(), "never-created");
        var settings = await StoreSettingsAsync(data);
        var before = LegacyVolumeGenerator.Snapshot(fixture.Root);
        var files = Volume.MigratedFiles.ToList();

        var dry = await MigrateAsync(settings, data, "--dry-run", "--include-cache");

        Assert.True(dry.ExitCode == 0, dry.ToString());
        Assert.Contains($"{N(Volume.Projects.Count)} projects, {N(files.Count)} files", dry.Stdout, StringComparison.Ordinal);
        Assert.Contains($"cache files     {N(Volume.CacheFiles.Count),7}", dry.Stdout, StringComparison.Ordinal);
        Assert.Contains("lost+found/ (folder, 2 files", dry.Stdout, StringComparison.Ordinal);
        Assert.Contains($"My Project 13/ -> {LegacyNames.ProjectId("My Project 13")}", dry.Stdout, StringComparison.Ordinal);
        Assert.Contains("Dry run: nothing was written.", dry.Stdout, StringComparison.Ordinal);
        Assert.False(Directory.Exists(data), "the dry run created the data folder");
        await AssertStoreUntouchedAsync(data);
        Assert.Equal(before, LegacyVolumeGenerator.Snapshot(fixture.Root));
    }

    /// <summary>Every legacy project is a project; every build is imported with its times; every artifact is recorded once with its hash.</summary>
    private async Task AssertImportedThroughApiAsync(HttpClient client)
    {
        var projects = (await GetAsync<ProjectDto[]>(client, ApiRoutes.Projects)).ToDictionary(p => p.Id);
        Assert.Equal(Volume.Projects.Select(p => LegacyNames.ProjectId(p.LegacyName)).Order(StringComparer.Ordinal), projects.Keys.Order(StringComparer.Ordinal));
        Assert.Contains(projects.Keys, id => System.Text.RegularExpressions.Regex.IsMatch(id, "^7-[0-9a-f]{8}$")); // "빌드 프로젝트 7"
        foreach (var legacy in Volume.Projects)
        {
            var id = LegacyNames.ProjectId(legacy.LegacyName);
            Assert.Equal("admin", projects[id].Owner);
            Assert.Equal(legacy.HasBuild ? 1 : 0, projects[id].BuildCount);
            var builds = await GetAsync<BuildDto[]>(client, ApiRoutes.ProjectBuilds(id));
            if (!legacy.HasBuild)
            {
                Assert.Empty(builds);
                continue;
            }

            var build = Assert.Single(builds);
            var times = legacy.Logs.Select(l => l.File).Concat(legacy.Artifacts.Select(a => a.File)).Append(legacy.Result).OfType<GeneratedFile>().Select(f => f.LastWriteTime).ToList();
            Assert.True(build.Imported, id);
            Assert.Equal(1, build.Number);
            Assert.Equal(legacy.Result is not null || legacy.Artifacts.Count > 0 ? BuildStatus.Succeeded : BuildStatus.Failed, build.Status);
            Assert.Equal(times.Min(), build.StartedAt);
            Assert.Equal(times.Max(), build.FinishedAt);

            if (legacy.Artifacts.Count > 0)
            {
                var artifacts = await GetAsync<ArtifactDto[]>(client, ApiRoutes.BuildArtifacts(build.Id));
                Assert.Equal(
                    legacy.Artifacts.Select(a => $"{LegacyNames.Version(a.Version)}/{LegacyNames.FileName(a.Name)}/{a.File.Sha256}/{a.File.Size}").Order(StringComparer.Ordinal),
                    artifacts.Select(a => $"{a.Version}/{a.Name}/{a.Sha256}/{a.Size}").Order(StringComparer.Ordinal));
            }
        }
    }

    private async Task<CliResultText> MigrateAsync(IReadOnlyDictionary<string, string> settings, string data, params string[] args) =>
        await MigrateFromAsync(settings, data, fixture.Root, args);

    private static async Task<CliResultText> MigrateFromAsync(IReadOnlyDictionary<string, string> settings, string data, string legacy, params string[] args)
    {
        var result = await CliProcess.RunAsync(TestPaths.RepoRoot, Environment(settings), ["migrate", "--from", legacy, "--data", data, .. args]);
        return new CliResultText(result.ExitCode, result.StdoutText, result.Stderr);
    }

    private static Dictionary<string, string> Environment(IReadOnlyDictionary<string, string> settings) =>
        settings.ToDictionary(s => s.Key.Replace(":", "__", StringComparison.Ordinal), s => s.Value);

    private static Dictionary<string, string> WithGenerousRateLimits(IReadOnlyDictionary<string, string> settings) =>
        new(settings) { ["RateLimits:PermitsPerSecond"] = "100000", ["RateLimits:Burst"] = "100000" };

    private static async Task<T> GetAsync<T>(HttpClient client, string route)
    {
        using var response = await ApiCalls.GetPolitelyAsync(client, route);
        return (await response.Content.ReadFromJsonAsync<T>(AutoBuilderJson.Options))!;
    }

    private string NewDataDirectory()
    {
        var folder = TestPaths.NewTempDirectory("migrate");
        _folders.Add(folder);
        return Path.Combine(folder, "data");
    }

    private static string N(int value) => value.ToString("N0", CultureInfo.InvariantCulture);

    protected sealed record CliResultText(int ExitCode, string Stdout, string Stderr)
    {
        public override string ToString() => $"exit code {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
    }
}

/// <summary>The migration into the default filesystem store ({data}/blobs).</summary>
public sealed class FileSystemMigrateTests(LegacyVolumeFixture fixture) : MigrateTests(fixture), IClassFixture<LegacyVolumeFixture>
{
    [Fact]
    public Task Migrate_killed_midway_finishes_on_the_next_run_with_a_clean_verify_no_duplicates_and_a_second_run_copies_nothing() =>
        KilledRunResumesAndASecondRunCopiesNothingAsync();

    protected override Task<IReadOnlyDictionary<string, string>> StoreSettingsAsync(string dataDirectory) =>
        Task.FromResult<IReadOnlyDictionary<string, string>>(new Dictionary<string, string>());

    protected override async Task CorruptBlobAsync(string dataDirectory, string container, string path)
    {
        var file = Path.Combine(dataDirectory, "blobs", container, path);
        var length = new FileInfo(file).Length;
        var bytes = await File.ReadAllBytesAsync(file);
        bytes[length / 2] ^= 0xFF;
        await File.WriteAllBytesAsync(file, bytes);
        Assert.Equal(length, new FileInfo(file).Length);
    }

    protected override Task<int> CountBlobsAsync(string dataDirectory)
    {
        var blobs = Path.Combine(dataDirectory, "blobs");
        if (!Directory.Exists(blobs))
        {
            return Task.FromResult(0);
        }

        // .tmp holds writes in progress: not blobs yet.
        return Task.FromResult(Directory.EnumerateDirectories(blobs).Where(d => Path.GetFileName(d) != ".tmp")
            .Sum(container => Directory.EnumerateFiles(container, "*", SearchOption.AllDirectories).Count()));
    }

    protected override Task AssertStoreUntouchedAsync(string dataDirectory)
    {
        Assert.False(Directory.Exists(Path.Combine(dataDirectory, "blobs")));
        return Task.CompletedTask;
    }
}
