using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using AutoBuilder.Core;
using AutoBuilder.Core.Api;
using AutoBuilder.Core.Builds;

namespace AutoBuilder.EndToEnd.Tests.Infrastructure;

/// <summary>Plain HTTP calls to the API, for tests that check answers the CLI would hide.</summary>
public static class ApiCalls
{
    /// <summary>A script build that finishes at once with one output and one artifact.</summary>
    public static IReadOnlyDictionary<string, string> QuickBuild { get; } = new Dictionary<string, string>
    {
        ["build.sh"] = "mkdir -p out && echo hi > out/hi.txt && echo art > out/app.txt\n",
        ["autobuilder.yml"] = "outputs:\n  - out/**\nartifacts:\n  - out/app.txt\n",
    };

    public static async Task CreateProjectAsync(HttpClient client, string projectId)
    {
        using var response = await client.PutAsync(ApiRoutes.Project(projectId), null);
        response.EnsureSuccessStatusCode();
    }

    /// <summary>Zips the files given (relative name → content) and starts a build of them.</summary>
    public static async Task<BuildDto> StartBuildAsync(HttpClient client, string projectId, IReadOnlyDictionary<string, string> files)
    {
        await CreateProjectAsync(client, projectId);
        using var content = new ByteArrayContent(Zip(files));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/zip");
        using var response = await client.PostAsync(ApiRoutes.ProjectBuilds(projectId), content);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<BuildDto>(AutoBuilderJson.Options))!;
    }

    public static async Task<BuildDto> GetBuildAsync(HttpClient client, string buildId)
    {
        using var response = await GetPolitelyAsync(client, ApiRoutes.Build(buildId));
        return (await response.Content.ReadFromJsonAsync<BuildDto>(AutoBuilderJson.Options))!;
    }

    /// <summary>A GET that, like a well-behaved client, waits out a 429's Retry-After (bounded) instead of failing.</summary>
    public static async Task<HttpResponseMessage> GetPolitelyAsync(HttpClient client, string route)
    {
        for (var attempt = 0; ; attempt++)
        {
            var response = await client.GetAsync(route);
            if (response.StatusCode != HttpStatusCode.TooManyRequests || attempt == 20)
            {
                response.EnsureSuccessStatusCode();
                return response;
            }

            var wait = response.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(1);
            response.Dispose();
            await Task.Delay(wait);
        }
    }

    /// <summary>
    /// GETs a JSON body that holds signed links, reading the test's clock just before and just after: the server signed
    /// the links between the two (server and test share the machine's clock), so <see cref="AssertExpiry"/> can check
    /// their expiry against that bracket instead of against a fixed window that a slow request could overrun.
    /// </summary>
    public static async Task<(T Body, DateTimeOffset Before, DateTimeOffset After)> GetSignedAsync<T>(HttpClient client, string route)
    {
        var before = DateTimeOffset.UtcNow;
        var body = (await client.GetFromJsonAsync<T>(route, AutoBuilderJson.Options))!;
        return (body, before, DateTimeOffset.UtcNow);
    }

    /// <summary>A link asked for with <paramref name="lifetime"/> expires at the server's clock then plus the lifetime, rounded down to whole seconds.</summary>
    public static void AssertExpiry(DateTimeOffset expiresAt, TimeSpan lifetime, DateTimeOffset before, DateTimeOffset after) =>
        Assert.InRange(expiresAt, before + lifetime - TimeSpan.FromSeconds(1), after + lifetime);

    /// <summary>Polls until the build is finished (bounded).</summary>
    public static async Task<BuildDto> WaitForEndAsync(HttpClient client, string buildId, TimeSpan? limit = null)
    {
        using var timeout = new CancellationTokenSource(limit ?? TimeSpan.FromMinutes(4));
        while (true)
        {
            var build = await GetBuildAsync(client, buildId);
            if (build.Status.IsTerminal())
            {
                return build;
            }

            await Task.Delay(500, timeout.Token);
        }
    }

    /// <summary>Polls until the build reaches the given phase or status (bounded).</summary>
    public static async Task<BuildDto> WaitForAsync(HttpClient client, string buildId, Func<BuildDto, bool> condition, TimeSpan? limit = null)
    {
        using var timeout = new CancellationTokenSource(limit ?? TimeSpan.FromMinutes(2));
        while (true)
        {
            var build = await GetBuildAsync(client, buildId);
            if (condition(build))
            {
                return build;
            }

            await Task.Delay(100, timeout.Token);
        }
    }

    public static async Task<string> GetLogAsync(HttpClient client, string buildId)
    {
        using var response = await GetPolitelyAsync(client, ApiRoutes.BuildLog(buildId));
        return await response.Content.ReadAsStringAsync();
    }

    public static byte[] Zip(IReadOnlyDictionary<string, string> files)
    {
        using var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, text) in files)
            {
                var entry = zip.CreateEntry(name);
                using var writer = new StreamWriter(entry.Open());
                writer.Write(text);
            }
        }

        return buffer.ToArray();
    }

    /// <summary>A ZIP of (name, content, external attributes) entries, names written as given.</summary>
    public static byte[] Zip(params (string Name, byte[] Content, int ExternalAttributes)[] entries)
    {
        using var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (entryName, content, attributes) in entries)
            {
                var entry = zip.CreateEntry(entryName);
                if (attributes != 0)
                {
                    entry.ExternalAttributes = attributes;
                }

                using var stream = entry.Open();
                stream.Write(content);
            }
        }

        return buffer.ToArray();
    }
}
