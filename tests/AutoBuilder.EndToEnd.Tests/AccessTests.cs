using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using AutoBuilder.Core;
using AutoBuilder.Core.Api;
using AutoBuilder.Core.Builds;
using AutoBuilder.Core.Protocol;
using AutoBuilder.EndToEnd.Tests.Infrastructure;
using AutoBuilder.Server.Auth;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>Signed links, users and build tokens: who may reach what.</summary>
public sealed class AccessTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task ResultLink_Valid_DownloadsWithoutKey_AndAnyTamperIsForbidden()
    {
        using var client = fixture.Server.CreateClient();
        var build = await ApiCalls.StartBuildAsync(client, $"link-{Guid.NewGuid():N}"[..20], ApiCalls.QuickBuild);
        Assert.Equal(BuildStatus.Succeeded, (await ApiCalls.WaitForEndAsync(client, build.Id)).Status);
        var (link, before, after) = await ApiCalls.GetSignedAsync<SignedLink>(client, ApiRoutes.BuildResult(build.Id));
        ApiCalls.AssertExpiry(link.ExpiresAt, TimeSpan.FromHours(1), before, after); // Links:DefaultLifetime
        using var anonymous = new HttpClient();

        using (var ok = await anonymous.GetAsync(link.Url))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
            Assert.Equal(File.ReadAllBytes(Path.Combine(fixture.Server.BlobRoot, "projects", build.ProjectId, "builds", "1", "result.zip")), await ok.Content.ReadAsByteArrayAsync());
        }

        var url = link.Url.ToString();
        var query = System.Web.HttpUtility.ParseQueryString(link.Url.Query);
        var exp = query["exp"]!;
        string[] tampered =
        [
            url.Replace("/builds/1/result.zip", "/builds/1/result.json", StringComparison.Ordinal),
            url.Replace("/projects/", "/uploads/", StringComparison.Ordinal),
            url.Replace($"exp={exp}", $"exp={long.Parse(exp, System.Globalization.CultureInfo.InvariantCulture) + 3600}", StringComparison.Ordinal),
            url.Replace("sp=r", "sp=w", StringComparison.Ordinal),
            url[..^2] + (url[^2] == 'A' ? "BB" : "AA"),
            url.Split('?')[0],
        ];
        foreach (var bad in tampered)
        {
            using var refused = await anonymous.GetAsync(bad);
            await BadInputTests.AssertProblemAsync(refused, HttpStatusCode.Forbidden, null, bad);
        }

        // A read link cannot write.
        using var write = await anonymous.PutAsync(link.Url, new ByteArrayContent([1, 2, 3]));
        Assert.Equal(HttpStatusCode.Forbidden, write.StatusCode);
    }

    [Fact]
    public async Task SecondUser_SeesOnlyOwnProjects_AndCannotIssueKeys()
    {
        using var admin = fixture.Server.CreateClient();
        var adminProject = $"admins-{Guid.NewGuid():N}"[..20];
        var adminBuild = await ApiCalls.StartBuildAsync(admin, adminProject, ApiCalls.QuickBuild);
        using var created = await admin.PostAsync(ApiRoutes.UserKeys("alice"), null);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var key = (await created.Content.ReadFromJsonAsync<ApiKeyCreated>(AutoBuilderJson.Options))!;
        using var alice = fixture.Server.CreateClient(key.Key);

        Assert.Equal(HttpStatusCode.NotFound, (await alice.GetAsync(ApiRoutes.Project(adminProject))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await alice.GetAsync(ApiRoutes.Build(adminBuild.Id))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await alice.GetAsync(ApiRoutes.BuildLog(adminBuild.Id))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await alice.PostAsync(ApiRoutes.CancelBuild(adminBuild.Id), null)).StatusCode);
        Assert.DoesNotContain((await alice.GetFromJsonAsync<ProjectDto[]>(ApiRoutes.Projects, AutoBuilderJson.Options))!, p => p.Id == adminProject);
        Assert.Equal(HttpStatusCode.Forbidden, (await alice.PostAsync(ApiRoutes.UserKeys("mallory"), null)).StatusCode);

        // Alice's own project works, and the admin sees it too.
        var aliceBuild = await ApiCalls.StartBuildAsync(alice, $"alices-{Guid.NewGuid():N}"[..20], ApiCalls.QuickBuild);
        Assert.Equal(BuildStatus.Succeeded, (await ApiCalls.WaitForEndAsync(alice, aliceBuild.Id)).Status);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync(ApiRoutes.Build(aliceBuild.Id))).StatusCode);
    }

    [Fact]
    public async Task RunnerCalls_ForgedOrStaleToken_AreRefused()
    {
        using var client = fixture.Server.CreateClient();
        var build = await ApiCalls.StartBuildAsync(client, $"token-{Guid.NewGuid():N}"[..20], new Dictionary<string, string> { ["build.sh"] = "sleep 300\n" });
        await ApiCalls.WaitForAsync(client, build.Id, b => b.Phase == BuildPhase.Building);
        var tokens = new BuildTokenService(ServerSecrets.Load(null, fixture.Server.DataDirectory));
        using var runner = new HttpClient { BaseAddress = fixture.Server.Url };

        async Task<HttpStatusCode> PhaseAsync(string token)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, RunnerRoutes.Phase(build.Id))
            {
                Content = new StringContent("{\"phase\":\"building\"}", Encoding.UTF8, "application/json"),
            };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            using var response = await runner.SendAsync(request);
            return response.StatusCode;
        }

        Assert.Equal(HttpStatusCode.NoContent, await PhaseAsync(tokens.Issue(build.Id, 1)));
        Assert.Equal(HttpStatusCode.Conflict, await PhaseAsync(tokens.Issue(build.Id, 2)));
        Assert.Equal(HttpStatusCode.Unauthorized, await PhaseAsync(tokens.Issue(build.Id, 1)[..^3] + "abc"));
        Assert.Equal(HttpStatusCode.Forbidden, await PhaseAsync(tokens.Issue(Ids.NewId(), 1)));
        Assert.Equal(HttpStatusCode.Unauthorized, await PhaseAsync(fixture.Server.AdminKey));

        await client.PostAsync(ApiRoutes.CancelBuild(build.Id), null);
        Assert.Equal(HttpStatusCode.Conflict, await PhaseAsync(tokens.Issue(build.Id, 1)));
    }

    [Fact]
    public async Task Probes_AnswerWithoutKey_AndMetricsCountBuilds()
    {
        using var client = fixture.Server.CreateClient();
        var build = await ApiCalls.StartBuildAsync(client, $"metrics-{Guid.NewGuid():N}"[..20], ApiCalls.QuickBuild);
        await ApiCalls.WaitForEndAsync(client, build.Id);
        using var anonymous = new HttpClient { BaseAddress = fixture.Server.Url };

        Assert.Equal("ok", (await anonymous.GetStringAsync("healthz")).Trim());
        Assert.Equal("ready", (await anonymous.GetStringAsync("readyz")).Trim());
        var metrics = await anonymous.GetStringAsync("metrics");
        Assert.Matches("(?m)^autobuilder_builds_queued_total\\{[^}]*\\} [1-9]", metrics);
        Assert.Contains("autobuilder_build_phase_duration_seconds_bucket", metrics, StringComparison.Ordinal);
    }
}
