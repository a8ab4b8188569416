using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using AutoBuilder.Core;
using AutoBuilder.Core.Api;
using AutoBuilder.Core.Builds;
using AutoBuilder.Core.Protocol;
using AutoBuilder.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>
/// Issue 3's acceptance on the production stack: two API and two dispatcher processes on PostgreSQL and Azurite
/// (<see cref="AzureScaledDeploymentFixture"/>) — the Maven sample, a 1 GiB source, a storage outage, signed links.
/// </summary>
[Collection(ProductionStackCollection.Name)]
public sealed class ProductionStackTests(AzureScaledDeploymentFixture deployment, ITestOutputHelper output)
{
    private static readonly HttpClient Anonymous = new() { Timeout = TimeSpan.FromMinutes(10) };

    [Fact]
    public async Task MavenSample_BuildsAcrossTwoApisAndDispatchers_BlobsAtDesignPaths_LinksGoStraightToAzurite()
    {
        var project = $"maven-{Guid.NewGuid():N}"[..20];
        var outputDirectory = TestPaths.NewTempDirectory("out");
        using var other = deployment.Client(deployment.Apis[0]);

        // The real client against one API; everything else asked of the other API.
        var result = await CliProcess.RunAsync(TestPaths.RepoRoot, new Dictionary<string, string>
        {
            ["AUTOBUILDER_SERVER"] = deployment.Apis[1].Url.ToString(),
            ["AUTOBUILDER_API_KEY"] = ScaledDeploymentFixture.AdminKey,
        }, "build", Path.Combine(TestPaths.Samples, "maven-hello"), "--project", project, "--out", outputDirectory);

        Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}\n{result.StdoutText}\n{result.Stderr}\n{string.Join("\n", deployment.Dispatchers.Select(d => d.Output))}");
        var build = (await other.GetFromJsonAsync<BuildDto[]>(ApiRoutes.ProjectBuilds(project), AutoBuilderJson.Options))!.Single();
        Assert.Equal((BuildStatus.Succeeded, 1), (build.Status, build.Attempt));
        using (var zip = ZipFile.OpenRead(Path.Combine(outputDirectory, "result.zip")))
        {
            Assert.Contains(zip.Entries, e => e.Name == "maven-hello-1.0.0-SNAPSHOT.jar");
        }

        Directory.Delete(outputDirectory, recursive: true);

        // The blob layout of docs/ARCHITECTURE.md, in the seed's containers.
        var blobs = deployment.Blobs;
        Assert.True(await blobs.GetBlobContainerClient("uploads").GetBlobClient($"{project}/{build.SourceId}/source.zip").ExistsAsync());
        var projects = blobs.GetBlobContainerClient("projects");
        foreach (var path in new[] { "logs/build.log", "result.zip", "result.json", "artifacts/maven-hello-1.0.0-SNAPSHOT.jar" })
        {
            Assert.True(await projects.GetBlobClient($"{project}/builds/1/{path}").ExistsAsync(), $"projects/{project}/builds/1/{path} is missing");
        }

        Assert.True(await blobs.GetBlobContainerClient("artifacts").GetBlobClient($"{project}/1.0.0-SNAPSHOT/maven-hello-1.0.0-SNAPSHOT.jar").ExistsAsync());

        // The result link is a SAS URL on Azurite's blob endpoint, downloaded without an API key.
        var link = (await other.GetFromJsonAsync<SignedLink>(ApiRoutes.BuildResult(build.Id), AutoBuilderJson.Options))!;
        Assert.StartsWith(deployment.Azurite.BlobEndpoint.AbsoluteUri + "/projects/", link.Url.AbsoluteUri, StringComparison.Ordinal);
        using (var download = await Anonymous.GetAsync(link.Url))
        {
            Assert.Equal(HttpStatusCode.OK, download.StatusCode);
            using var zip = new ZipArchive(await download.Content.ReadAsStreamAsync());
            Assert.Contains(zip.Entries, e => e.Name == "maven-hello-1.0.0-SNAPSHOT.jar");
        }

        // The artifact link too, with the hash the build recorded.
        var jar = Assert.Single((await other.GetFromJsonAsync<ArtifactDto[]>(ApiRoutes.BuildArtifacts(build.Id), AutoBuilderJson.Options))!);
        Assert.StartsWith(deployment.Azurite.BlobEndpoint.AbsoluteUri + "/artifacts/", jar.Url.AbsoluteUri, StringComparison.Ordinal);
        Assert.Equal(jar.Sha256, Convert.ToHexStringLower(SHA256.HashData(await Anonymous.GetByteArrayAsync(jar.Url))));
    }

    [Fact]
    public async Task ResultLink_TamperedOrExpired_IsRefusedByAzurite()
    {
        using var client = deployment.Client(deployment.Apis[0]);
        var build = await ApiCalls.StartBuildAsync(client, $"links-{Guid.NewGuid():N}"[..20], ApiCalls.QuickBuild);
        Assert.Equal(BuildStatus.Succeeded, (await ApiCalls.WaitForEndAsync(client, build.Id)).Status);

        var link = (await client.GetFromJsonAsync<SignedLink>(ApiRoutes.BuildResult(build.Id), AutoBuilderJson.Options))!;
        using (var download = await Anonymous.GetAsync(link.Url))
        {
            Assert.Equal(HttpStatusCode.OK, download.StatusCode);
        }

        using (var tampered = await Anonymous.GetAsync(new Uri(link.Url.AbsoluteUri.Replace("sig=", "sig=A", StringComparison.Ordinal))))
        {
            Assert.Equal(HttpStatusCode.Forbidden, tampered.StatusCode);
        }

        // A link asked for with a one-second lifetime, used once that second has passed.
        var shortLived = (await client.GetFromJsonAsync<SignedLink>(ApiRoutes.BuildResult(build.Id) + "?lifetime=1", AutoBuilderJson.Options))!;
        Assert.StartsWith(deployment.Azurite.BlobEndpoint.AbsoluteUri + "/projects/", shortLived.Url.AbsoluteUri, StringComparison.Ordinal);
        while (DateTimeOffset.UtcNow <= shortLived.ExpiresAt.AddSeconds(1))
        {
            await Task.Delay(200);
        }

        using var expired = await Anonymous.GetAsync(shortLived.Url);
        var body = await expired.Content.ReadAsStringAsync();
        Assert.True(expired.StatusCode == HttpStatusCode.Forbidden, $"{(int)expired.StatusCode}: {body}");
    }

    /// <summary>
    /// 1 GiB of pseudo-random bytes, generated while it is sent, goes up through one API process into Azurite, down
    /// into a runner, back up as an artifact and down again through its SAS link; both ends hash while streaming.
    /// The API process that took the upload must not grow by 128 MB for it (peak RSS, from /proc).
    /// </summary>
    [Fact]
    public async Task OneGiBSource_UploadedAndDownloadedThroughTheStack_ArrivesIdentical_AndTheApiStaysSmall()
    {
        const long size = 1L << 30;
        const long maxGrowthBytes = 128L * 1000 * 1000;
        var api = deployment.Apis[0];
        using var client = deployment.Client(api);
        client.Timeout = TimeSpan.FromMinutes(20);
        var project = $"big-{Guid.NewGuid():N}"[..20];
        await ApiCalls.CreateProjectAsync(client, project);

        var before = ProcessMemory.Read(api.ProcessId);
        ProcessMemory.ResetPeak(api.ProcessId);
        var baseline = ProcessMemory.Read(api.ProcessId);
        using var content = new RandomZipContent(size, new Dictionary<string, string>
        {
            ["build.sh"] = "echo building with big.bin\n",
            // big.bin is the artifact (uploaded raw by the runner); result.zip carries only the small output.
            ["autobuilder.yml"] = "outputs:\n  - build.sh\nartifacts:\n  - big.bin\n",
        });
        content.Headers.ContentType = new MediaTypeHeaderValue("application/zip");
        BuildDto build;
        using (var response = await client.PostAsync(ApiRoutes.ProjectBuilds(project), content))
        {
            Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
            build = (await response.Content.ReadFromJsonAsync<BuildDto>(AutoBuilderJson.Options))!;
        }

        var afterUpload = ProcessMemory.Read(api.ProcessId);
        var ended = await ApiCalls.WaitForEndAsync(client, build.Id, TimeSpan.FromMinutes(20));
        var afterBuild = ProcessMemory.Read(api.ProcessId);
        Assert.True(ended.Status == BuildStatus.Succeeded, $"{ended.Status}: {ended.Error}\n{await ApiCalls.GetLogAsync(client, build.Id)}");

        var artifact = Assert.Single((await client.GetFromJsonAsync<ArtifactDto[]>(ApiRoutes.BuildArtifacts(build.Id), AutoBuilderJson.Options))!);
        Assert.Equal(("big.bin", size), (artifact.Name, artifact.Size));
        Assert.StartsWith(deployment.Azurite.BlobEndpoint.AbsoluteUri + "/artifacts/", artifact.Url.AbsoluteUri, StringComparison.Ordinal);
        var (downloaded, downloadedSha256) = await DownloadHashingAsync(artifact.Url);

        var growth = afterBuild.PeakBytes - baseline.ResidentBytes;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"API process {api.ProcessId}: RSS {Mb(before.ResidentBytes)} MB (peak so far {Mb(before.PeakBytes)} MB) before; peak reset to RSS {Mb(baseline.ResidentBytes)} MB; "
            + $"peak {Mb(afterUpload.PeakBytes)} MB after the upload, {Mb(afterBuild.PeakBytes)} MB after the build (RSS then {Mb(afterBuild.ResidentBytes)} MB): growth {Mb(growth)} MB (limit {Mb(maxGrowthBytes)} MB)"));
        output.WriteLine($"uploaded sha256 {content.Sha256}; downloaded {downloaded} bytes, sha256 {downloadedSha256}; the runner reported {artifact.Sha256}");
        output.WriteLine($"phases: stage {ended.Durations.Stage:F1} s, build {ended.Durations.Build:F1} s, publish {ended.Durations.Publish:F1} s");

        Assert.Equal(size, downloaded);
        Assert.Equal(content.Sha256, downloadedSha256);
        Assert.Equal(content.Sha256, artifact.Sha256);
        Assert.True(growth < maxGrowthBytes, $"The API process grew by {Mb(growth)} MB for a 1 GiB upload (limit {Mb(maxGrowthBytes)} MB).");
    }

    /// <summary>
    /// Azurite goes away while builds are queued, staging, building and publishing on both dispatchers, and comes back
    /// on the same port with the same data. No build may stay stuck or be lost: each ends succeeded (retried when it
    /// had to be) or failed naming storage; a source uploaded before the outage still builds; every process reports
    /// the blob store not ready during the outage, refuses new uploads with 503 meanwhile, and is ready again after.
    /// </summary>
    [Fact]
    public async Task AzuriteStoppedAndRestarted_WhileBuildsRun_NoBuildIsStuckOrLost_AndEveryProcessRecovers()
    {
        var clients = deployment.Apis.Select(deployment.Client).ToList();
        var project = $"outage-{Guid.NewGuid():N}"[..20];
        await ApiCalls.CreateProjectAsync(clients[0], project);
        var source = await UploadSourceAsync(clients[0], project, ApiCalls.QuickBuild);

        // Eight builds for six slots (3 per dispatcher): two wait in the queue, the others build for 0 to 6 s, so
        // when storage goes some are staging or publishing and some are still building.
        var submitted = new List<BuildDto>();
        for (var i = 0; i < 8; i++)
        {
            submitted.Add(await ApiCalls.StartBuildAsync(clients[i % 2], project, new Dictionary<string, string>(ApiCalls.QuickBuild)
            {
                ["build.sh"] = $"echo outage-build-{i}\nsleep {i % 4 * 2}\n" + ApiCalls.QuickBuild["build.sh"],
            }));
        }

        await WaitUntilAsync(async () => (await Task.WhenAll(submitted.Select(b => ApiCalls.GetBuildAsync(clients[0], b.Id))))
            .Count(b => b.Phase == BuildPhase.Building) >= 2, "two builds building");

        await deployment.Azurite.StopAsync();
        var outage = System.Diagnostics.Stopwatch.StartNew();
        foreach (var process in deployment.All)
        {
            var notReady = await WaitForReadinessAsync(process, HttpStatusCode.ServiceUnavailable);
            Assert.Contains("blob store: unreachable", notReady, StringComparison.Ordinal);
            Assert.Contains("metadata store: ok", notReady, StringComparison.Ordinal);
        }

        // An upload while storage is down is refused as unavailable, not accepted and lost.
        using (var refused = await clients[1].PostAsync(ApiRoutes.ProjectBuilds(project), ZipContent(ApiCalls.QuickBuild)))
        {
            var body = await refused.Content.ReadAsStringAsync();
            Assert.True(refused.StatusCode == HttpStatusCode.ServiceUnavailable, $"{(int)refused.StatusCode}: {body}");
            Assert.Contains("storage", body, StringComparison.OrdinalIgnoreCase);
        }

        // Longer than the storage clients' retries (~15 s), so transfers in flight really fail rather than ride it out.
        var hold = TimeSpan.FromSeconds(20) - outage.Elapsed;
        if (hold > TimeSpan.Zero)
        {
            await Task.Delay(hold);
        }

        await deployment.Azurite.StartAsync();
        output.WriteLine($"Azurite was down for {outage.Elapsed.TotalSeconds:F1} s");
        foreach (var process in deployment.All)
        {
            Assert.Equal("ready\n", await WaitForReadinessAsync(process, HttpStatusCode.OK));
        }

        // Nothing accepted is lost: the project holds exactly the submitted builds, each finished.
        var ended = await Task.WhenAll(submitted.Select(b => ApiCalls.WaitForEndAsync(clients[1], b.Id, TimeSpan.FromMinutes(10))));
        foreach (var build in ended)
        {
            output.WriteLine($"#{build.Number}: {build.Status} after {build.Attempt} attempt(s){(build.Error is null ? "" : ": " + build.Error)}");
        }

        Assert.All(ended, b => Assert.True(
            b.Status == BuildStatus.Succeeded || (b.Status == BuildStatus.Failed && b.Error is not null && b.Error.Contains("Azure Blob Storage", StringComparison.Ordinal)),
            $"#{b.Number}: {b.Status} after {b.Attempt} attempt(s): {b.Error}"));
        var listed = (await clients[0].GetFromJsonAsync<BuildDto[]>(ApiRoutes.ProjectBuilds(project), AutoBuilderJson.Options))!;
        Assert.Equal(submitted.Select(b => b.Id).Order(StringComparer.Ordinal), listed.Select(b => b.Id).Order(StringComparer.Ordinal));

        // Each succeeded build's result is there; the source uploaded before the outage is intact and still builds.
        foreach (var build in ended.Where(b => b.Status == BuildStatus.Succeeded))
        {
            var link = (await clients[0].GetFromJsonAsync<SignedLink>(ApiRoutes.BuildResult(build.Id), AutoBuilderJson.Options))!;
            using var zip = new ZipArchive(await Anonymous.GetStreamAsync(link.Url));
            Assert.Contains(zip.Entries, e => e.FullName == "out/hi.txt");
        }

        var stored = await deployment.Blobs.GetBlobContainerClient("uploads").GetBlobClient($"{project}/{source.Id}/source.zip").GetPropertiesAsync();
        Assert.Equal(source.Size, stored.Value.ContentLength);
        using (var create = await clients[1].PostAsJsonAsync(ApiRoutes.ProjectBuilds(project), new CreateBuildRequest(source.Id), AutoBuilderJson.Options))
        {
            Assert.Equal(HttpStatusCode.Accepted, create.StatusCode);
            var rebuilt = await ApiCalls.WaitForEndAsync(clients[0], (await create.Content.ReadFromJsonAsync<BuildDto>(AutoBuilderJson.Options))!.Id);
            Assert.Equal(BuildStatus.Succeeded, rebuilt.Status);
        }
    }

    /// <summary>
    /// A runner killed mid-build is an infrastructure failure: the build runs again, and the next attempt's runner
    /// appends to the log the first one (and the dispatcher) already wrote — on Azure, with a link that may create
    /// and append but not overwrite.
    /// </summary>
    [Fact]
    public async Task RunnerKilled_BuildIsRetried_AndTheNextAttemptAppendsToTheSameAzureLog()
    {
        using var client = deployment.Client(deployment.Apis[0]);
        // The first attempt waits for a file in its project's cache folder, the one host folder a sandboxed build sees.
        var project = $"retry-{Guid.NewGuid():N}"[..20];
        var release = Path.Combine(deployment.DataDirectory, "cache", "projects", project, "release-" + Guid.NewGuid().ToString("N"));
        var build = await ApiCalls.StartBuildAsync(client, project, new Dictionary<string, string>(ApiCalls.QuickBuild)
        {
            ["build.sh"] = $"echo ATTEMPT-STARTED\nwhile [ ! -e '{release}' ]; do sleep 0.1; done\n" + ApiCalls.QuickBuild["build.sh"],
        });
        await WaitUntilAsync(async () => (await ApiCalls.GetLogAsync(client, build.Id)).Contains("ATTEMPT-STARTED", StringComparison.Ordinal), "the first attempt to start");

        var runner = Assert.Single(RunnerProcessIds(build.Id));
        using (var process = System.Diagnostics.Process.GetProcessById(runner))
        {
            process.Kill(entireProcessTree: true);
        }

        await File.WriteAllTextAsync(release, "go");
        var ended = await ApiCalls.WaitForEndAsync(client, build.Id);
        var log = await ApiCalls.GetLogAsync(client, build.Id);

        Assert.True((ended.Status, ended.Attempt) == (BuildStatus.Succeeded, 2), $"{ended.Status} after {ended.Attempt} attempt(s): {ended.Error}\n{log}");
        Assert.Contains("attempt 1 failed", log, StringComparison.Ordinal);
        Assert.Equal(2, System.Text.RegularExpressions.Regex.Count(log, "ATTEMPT-STARTED"));
        Assert.Contains("(attempt 2)", log, StringComparison.Ordinal);
    }

    /// <summary>The `autobuilder runner --build ID` processes of a build, found by their command line.</summary>
    private static List<int> RunnerProcessIds(string buildId) =>
    [
        .. Directory.EnumerateDirectories("/proc")
            .Select(Path.GetFileName)
            .Where(name => name!.All(char.IsAsciiDigit))
            .Select(name => int.Parse(name!, CultureInfo.InvariantCulture))
            .Where(pid => CommandLine(pid).Contains("\0runner\0", StringComparison.Ordinal) && CommandLine(pid).Contains($"\0--build\0{buildId}\0", StringComparison.Ordinal)),
    ];

    private static string CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline");
        }
        catch (IOException)
        {
            return "";
        }
    }

    private static async Task<SourceDto> UploadSourceAsync(HttpClient client, string project, IReadOnlyDictionary<string, string> files)
    {
        using var response = await client.PostAsync(ApiRoutes.Sources(project), ZipContent(files));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<SourceDto>(AutoBuilderJson.Options))!;
    }

    private static ByteArrayContent ZipContent(IReadOnlyDictionary<string, string> files)
    {
        var content = new ByteArrayContent(ApiCalls.Zip(files));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/zip");
        return content;
    }

    /// <summary>Polls /readyz (no key needed) until it answers <paramref name="status"/>; returns the body.</summary>
    private static async Task<string> WaitForReadinessAsync(ServerProcess process, HttpStatusCode status)
    {
        using var client = new HttpClient { BaseAddress = process.Url };
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        while (true)
        {
            using var response = await client.GetAsync("/readyz", timeout.Token);
            if (response.StatusCode == status)
            {
                return await response.Content.ReadAsStringAsync(timeout.Token);
            }

            await Task.Delay(200, timeout.Token);
        }
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        while (!await condition())
        {
            try
            {
                await Task.Delay(200, timeout.Token);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"Gave up waiting for {what}.");
            }
        }
    }

    private static async Task<(long Size, string Sha256)> DownloadHashingAsync(Uri url)
    {
        using var response = await Anonymous.GetAsync(url, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await using var stream = await response.Content.ReadAsStreamAsync();
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        long total = 0;
        int read;
        while ((read = await stream.ReadAsync(buffer)) > 0)
        {
            hash.AppendData(buffer, 0, read);
            total += read;
        }

        return (total, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }

    private static string Mb(long bytes) => (bytes / 1e6).ToString("F1", CultureInfo.InvariantCulture);

    /// <summary>
    /// A ZIP whose big.bin entry (stored, not deflated: random bytes do not compress) is pseudo-random bytes made while
    /// the request is sent, hashed as they go; nothing of it is held whole, on disk or in memory. Sent chunked.
    /// </summary>
    private sealed class RandomZipContent(long size, IReadOnlyDictionary<string, string> smallFiles) : HttpContent
    {
        public string? Sha256 { get; private set; }

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
            await using (zip)
            {
                foreach (var (name, text) in smallFiles)
                {
                    await using var writer = new StreamWriter(await zip.CreateEntry(name).OpenAsync());
                    await writer.WriteAsync(text);
                }

                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var buffer = new byte[1 << 20];
                await using (var entry = await zip.CreateEntry("big.bin", CompressionLevel.NoCompression).OpenAsync())
                {
                    for (var left = size; left > 0;)
                    {
                        var chunk = (int)Math.Min(buffer.Length, left);
                        Random.Shared.NextBytes(buffer.AsSpan(0, chunk));
                        hash.AppendData(buffer, 0, chunk);
                        await entry.WriteAsync(buffer.AsMemory(0, chunk));
                        left -= chunk;
                    }
                }

                Sha256 = Convert.ToHexStringLower(hash.GetHashAndReset());
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}

/// <summary>A process's resident memory now and at its peak, from /proc/PID/status (VmRSS, VmHWM).</summary>
public readonly record struct ProcessMemory(long ResidentBytes, long PeakBytes)
{
    public static ProcessMemory Read(int processId)
    {
        long Field(string[] lines, string name) =>
            long.Parse(lines.Single(l => l.StartsWith(name + ":", StringComparison.Ordinal))[(name.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        var lines = File.ReadAllLines($"/proc/{processId}/status");
        return new ProcessMemory(Field(lines, "VmRSS"), Field(lines, "VmHWM"));
    }

    /// <summary>Sets the peak (VmHWM) back to the current RSS (Linux ≥ 4.0: "5" to /proc/PID/clear_refs).</summary>
    public static void ResetPeak(int processId) => File.WriteAllText($"/proc/{processId}/clear_refs", "5");
}
