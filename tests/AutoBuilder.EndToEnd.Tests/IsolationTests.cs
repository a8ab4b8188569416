using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AutoBuilder.Core;
using AutoBuilder.Core.Api;
using AutoBuilder.Core.Builds;
using AutoBuilder.Core.Protocol;
using AutoBuilder.EndToEnd.Tests.Infrastructure;
using AutoBuilder.Server.Auth;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>Two users, every endpoint, keys and their revocation, link lifetimes, runner tokens on the wrong blob.</summary>
public sealed class IsolationTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private static string NewProjectId(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..24];

    private async Task<HttpClient> NewUserAsync(string name, bool admin = false)
    {
        using var client = fixture.Server.CreateClient();
        using var created = await client.PostAsync(ApiRoutes.UserKeys(name, admin), null);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var key = (await created.Content.ReadFromJsonAsync<ApiKeyCreated>(AutoBuilderJson.Options))!;
        return fixture.Server.CreateClient(key.Key);
    }

    private static HttpContent ZipBody() => new ByteArrayContent(ApiCalls.Zip(ApiCalls.QuickBuild)) { Headers = { ContentType = new MediaTypeHeaderValue("application/zip") } };

    private static HttpContent JsonBody(string json) => new StringContent(json, Encoding.UTF8, "application/json");

    /// <summary>Every user endpoint that names a project or a build, as (label, method, route, body).</summary>
    private static IEnumerable<(string Label, HttpMethod Method, string Route, Func<HttpContent?> Body)> Endpoints(string projectId, string buildId, string sourceId) =>
    [
        ("GET project", HttpMethod.Get, ApiRoutes.Project(projectId), () => null),
        ("GET builds list", HttpMethod.Get, ApiRoutes.ProjectBuilds(projectId), () => null),
        ("POST sources", HttpMethod.Post, ApiRoutes.Sources(projectId), ZipBody),
        ("POST builds (JSON)", HttpMethod.Post, ApiRoutes.ProjectBuilds(projectId), () => JsonBody($"{{\"sourceId\":\"{sourceId}\"}}")),
        ("POST builds (ZIP)", HttpMethod.Post, ApiRoutes.ProjectBuilds(projectId), ZipBody),
        ("GET build", HttpMethod.Get, ApiRoutes.Build(buildId), () => null),
        ("GET log", HttpMethod.Get, ApiRoutes.BuildLog(buildId), () => null),
        ("GET log?follow", HttpMethod.Get, ApiRoutes.BuildLog(buildId, follow: true), () => null),
        ("GET result", HttpMethod.Get, ApiRoutes.BuildResult(buildId), () => null),
        ("GET artifacts", HttpMethod.Get, ApiRoutes.BuildArtifacts(buildId), () => null),
        ("POST cancel", HttpMethod.Post, ApiRoutes.CancelBuild(buildId), () => null),
        ("POST rerun", HttpMethod.Post, ApiRoutes.RerunBuild(buildId), () => null),
    ];

    [Fact]
    public async Task OtherUsersIds_OnEveryEndpoint_AnswerExactlyLikeUnknownIds()
    {
        using var alice = await NewUserAsync("iso-alice");
        using var bob = await NewUserAsync("iso-bob");
        using var admin = fixture.Server.CreateClient();
        var aliceProject = NewProjectId("alice");
        var build = await ApiCalls.StartBuildAsync(alice, aliceProject, ApiCalls.QuickBuild);
        Assert.Equal(BuildStatus.Succeeded, (await ApiCalls.WaitForEndAsync(alice, build.Id)).Status);
        var bobProject = NewProjectId("bob");
        await ApiCalls.CreateProjectAsync(bob, bobProject);

        // The owner reaches every read endpoint: the 404s below are about ownership, not about broken calls.
        foreach (var (label, method, route, _) in Endpoints(aliceProject, build.Id, build.SourceId).Where(e => e.Method == HttpMethod.Get))
        {
            using var own = await alice.SendAsync(new HttpRequestMessage(method, route));
            Assert.True(own.IsSuccessStatusCode, $"{label} as the owner: {own.StatusCode}");
        }

        var unknownProject = NewProjectId("nobody");
        var unknownBuild = Ids.NewId();
        var foreign = Endpoints(aliceProject, build.Id, build.SourceId).ToList();
        var unknown = Endpoints(unknownProject, unknownBuild, build.SourceId).ToList();
        for (var i = 0; i < foreign.Count; i++)
        {
            var (label, method, route, body) = foreign[i];
            using var foreignAnswer = await bob.SendAsync(new HttpRequestMessage(method, route) { Content = body() });
            using var unknownAnswer = await bob.SendAsync(new HttpRequestMessage(unknown[i].Method, unknown[i].Route) { Content = unknown[i].Body() });
            await BadInputTests.AssertProblemAsync(foreignAnswer, HttpStatusCode.NotFound, null, $"{label} on another user's id");
            await BadInputTests.AssertProblemAsync(unknownAnswer, HttpStatusCode.NotFound, null, $"{label} on an unknown id");
            using var foreignJson = JsonDocument.Parse(await foreignAnswer.Content.ReadAsStringAsync());
            using var unknownJson = JsonDocument.Parse(await unknownAnswer.Content.ReadAsStringAsync());
            Assert.Equal(unknownJson.RootElement.GetProperty("title").GetString(), foreignJson.RootElement.GetProperty("title").GetString());
            Assert.Equal(
                unknownJson.RootElement.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal),
                foreignJson.RootElement.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
            // The detail too, each answer's own ids set aside: it may name the id asked for, never its owner or anything else.
            Assert.Equal(Detail(unknownJson, unknownProject, unknownBuild), Detail(foreignJson, aliceProject, build.Id));
        }

        // Nothing Bob sent reached Alice's project: still one build, no second source.
        Assert.Single((await alice.GetFromJsonAsync<BuildDto[]>(ApiRoutes.ProjectBuilds(aliceProject), AutoBuilderJson.Options))!);
        Assert.Single(Directory.GetDirectories(Path.Combine(fixture.Server.BlobRoot, "uploads", aliceProject)));
        Assert.Equal(BuildStatus.Succeeded, (await ApiCalls.GetBuildAsync(alice, build.Id)).Status);

        var bobSees = (await bob.GetFromJsonAsync<ProjectDto[]>(ApiRoutes.Projects, AutoBuilderJson.Options))!.Select(p => p.Id).ToList();
        Assert.Contains(bobProject, bobSees);
        Assert.DoesNotContain(aliceProject, bobSees);
        Assert.All((await alice.GetFromJsonAsync<ProjectDto[]>(ApiRoutes.Projects, AutoBuilderJson.Options))!, p => Assert.Equal("iso-alice", p.Owner));
        var adminSees = (await admin.GetFromJsonAsync<ProjectDto[]>(ApiRoutes.Projects, AutoBuilderJson.Options))!.Select(p => p.Id).ToList();
        Assert.Contains(aliceProject, adminSees);
        Assert.Contains(bobProject, adminSees);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync(ApiRoutes.Build(build.Id))).StatusCode);

        // Project ids are one namespace: claiming a taken id is refused (409), and reveals nothing but that.
        using var claim = await bob.PutAsync(ApiRoutes.Project(aliceProject), null);
        await BadInputTests.AssertProblemAsync(claim, HttpStatusCode.Conflict, "Project id not available", "PUT of a taken id");
        Assert.DoesNotContain("iso-alice", await claim.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    private static string? Detail(JsonDocument problem, string projectId, string buildId) =>
        problem.RootElement.GetProperty("detail").GetString()?.Replace(projectId, "{project}", StringComparison.Ordinal).Replace(buildId, "{build}", StringComparison.Ordinal);

    [Fact]
    public async Task Keys_ListedWithoutSecrets_RevokedKeyIsRefusedAtOnce()
    {
        using var admin = fixture.Server.CreateClient();
        using var created = await admin.PostAsync(ApiRoutes.UserKeys("iso-carol"), null);
        var carolKey = (await created.Content.ReadFromJsonAsync<ApiKeyCreated>(AutoBuilderJson.Options))!;
        using var carol = fixture.Server.CreateClient(carolKey.Key);
        Assert.Equal(HttpStatusCode.OK, (await carol.GetAsync(ApiRoutes.Projects)).StatusCode);

        var listJson = await admin.GetStringAsync(ApiRoutes.Keys);
        Assert.DoesNotContain(carolKey.Key, listJson, StringComparison.Ordinal);
        Assert.DoesNotContain(ApiKeyService.Hash(carolKey.Key), listJson, StringComparison.Ordinal);
        var listed = JsonSerializer.Deserialize<ApiKeyDto[]>(listJson, AutoBuilderJson.Options)!;
        var entry = Assert.Single(listed, k => k.Id == carolKey.KeyId);
        Assert.Equal("iso-carol", entry.User);
        Assert.False(entry.Admin);
        Assert.Null(entry.RevokedAt);
        Assert.Contains(listed, k => k.User == "admin" && k.Admin);

        // Only admins manage keys.
        await BadInputTests.AssertProblemAsync(await carol.GetAsync(ApiRoutes.Keys), HttpStatusCode.Forbidden, null, "non-admin lists keys");
        await BadInputTests.AssertProblemAsync(await carol.DeleteAsync(ApiRoutes.Key(carolKey.KeyId)), HttpStatusCode.Forbidden, null, "non-admin revokes");

        using var revoked = await admin.DeleteAsync(ApiRoutes.Key(carolKey.KeyId));
        Assert.Equal(HttpStatusCode.OK, revoked.StatusCode);
        Assert.NotNull((await revoked.Content.ReadFromJsonAsync<ApiKeyDto>(AutoBuilderJson.Options))!.RevokedAt);
        await BadInputTests.AssertProblemAsync(await carol.GetAsync(ApiRoutes.Projects), HttpStatusCode.Unauthorized, "Unauthorized", "revoked key");
        Assert.NotNull(JsonSerializer.Deserialize<ApiKeyDto[]>(await admin.GetStringAsync(ApiRoutes.Keys), AutoBuilderJson.Options)!.Single(k => k.Id == carolKey.KeyId).RevokedAt);

        await BadInputTests.AssertProblemAsync(await admin.DeleteAsync(ApiRoutes.Key(Ids.NewId())), HttpStatusCode.NotFound, "Key not found", "unknown key id");
        await BadInputTests.AssertProblemAsync(await admin.DeleteAsync(ApiRoutes.Key("..%2Fadmin")), HttpStatusCode.NotFound, "Key not found", "path characters");

        // ?admin=true makes an admin.
        using var dave = await NewUserAsync("iso-dave", admin: true);
        Assert.Equal(HttpStatusCode.OK, (await dave.GetAsync(ApiRoutes.Keys)).StatusCode);
    }

    [Fact]
    public async Task KeysCli_CreateListRevoke_OverTheApi()
    {
        var work = TestPaths.NewTempDirectory("keys-cli");
        var create = await CliProcess.RunAsync(fixture.Server, work, "keys", "create", "--user", "iso-erin");
        Assert.True(create.ExitCode == 0, create.Stderr);
        var key = create.Stdout.Select(l => l.Text.Trim()).Single(l => l.StartsWith("abk_", StringComparison.Ordinal));
        using var erin = fixture.Server.CreateClient(key);
        Assert.Equal(HttpStatusCode.OK, (await erin.GetAsync(ApiRoutes.Projects)).StatusCode);

        var list = await CliProcess.RunAsync(fixture.Server, work, "keys", "list");
        Assert.True(list.ExitCode == 0, list.Stderr);
        var row = Assert.Single(list.Stdout, l => l.Text.Contains("iso-erin", StringComparison.Ordinal));
        Assert.DoesNotContain(key, list.StdoutText, StringComparison.Ordinal);
        var keyId = row.Text.Split('│', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)[0];
        Assert.True(Ids.IsValidGeneratedId(keyId), row.Text);

        var revoke = await CliProcess.RunAsync(fixture.Server, work, "keys", "revoke", keyId);
        Assert.True(revoke.ExitCode == 0, revoke.Stderr);
        Assert.Equal(HttpStatusCode.Unauthorized, (await erin.GetAsync(ApiRoutes.Projects)).StatusCode);

        var unknown = await CliProcess.RunAsync(fixture.Server, work, "keys", "revoke", Ids.NewId());
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("Key not found", unknown.Stderr, StringComparison.Ordinal);

        var badUser = await CliProcess.RunAsync(fixture.Server, work, "keys", "create", "--user", "Not A Name");
        Assert.NotEqual(0, badUser.ExitCode);
    }

    [Fact]
    public async Task LinkLifetime_CanBeAskedFor_UpToTheMaximum_AndExpires()
    {
        using var client = fixture.Server.CreateClient();
        var build = await ApiCalls.StartBuildAsync(client, NewProjectId("life"), ApiCalls.QuickBuild);
        Assert.Equal(BuildStatus.Succeeded, (await ApiCalls.WaitForEndAsync(client, build.Id)).Status);

        // Each expiry is the server's clock at the request plus the lifetime asked for, bracketed by the test's clock
        // around that request (not a fixed window a slow machine could overrun).
        var (minute, before, after) = await ApiCalls.GetSignedAsync<SignedLink>(client, ApiRoutes.BuildResult(build.Id) + "?lifetime=60");
        ApiCalls.AssertExpiry(minute.ExpiresAt, TimeSpan.FromSeconds(60), before, after);
        (var day, before, after) = await ApiCalls.GetSignedAsync<SignedLink>(client, ApiRoutes.BuildResult(build.Id) + "?lifetime=86400");
        ApiCalls.AssertExpiry(day.ExpiresAt, TimeSpan.FromDays(1), before, after);
        (var artifacts, before, after) = await ApiCalls.GetSignedAsync<ArtifactDto[]>(client, ApiRoutes.BuildArtifacts(build.Id) + "?lifetime=120");
        ApiCalls.AssertExpiry(Assert.Single(artifacts).ExpiresAt, TimeSpan.FromSeconds(120), before, after);

        await BadInputTests.AssertProblemAsync(await client.GetAsync(ApiRoutes.BuildResult(build.Id) + "?lifetime=86401"), HttpStatusCode.BadRequest, "Link lifetime too long", "over the max");
        await BadInputTests.AssertProblemAsync(await client.GetAsync(ApiRoutes.BuildArtifacts(build.Id) + "?lifetime=999999999"), HttpStatusCode.BadRequest, "Link lifetime too long", "artifacts over the max");
        foreach (var bad in new[] { "0", "-5", "abc", "1.5", "" })
        {
            await BadInputTests.AssertProblemAsync(await client.GetAsync(ApiRoutes.BuildResult(build.Id) + "?lifetime=" + bad), HttpStatusCode.BadRequest, "Invalid link lifetime", $"lifetime={bad}");
        }

        // A one-second link stops working once it has expired: polled until refused (the limit is a hang guard), and
        // refused as expired — an authentic link past its expiry — not for some other fault.
        var shortLink = (await client.GetFromJsonAsync<SignedLink>(ApiRoutes.BuildResult(build.Id) + "?lifetime=1", AutoBuilderJson.Options))!;
        using var anonymous = new HttpClient();
        using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        HttpResponseMessage refused;
        while ((refused = await anonymous.GetAsync(shortLink.Url, guard.Token)).StatusCode == HttpStatusCode.OK)
        {
            refused.Dispose();
            await Task.Delay(250, guard.Token);
        }

        var refusedAt = DateTimeOffset.UtcNow;
        using (refused)
        {
            await BadInputTests.AssertProblemAsync(refused, HttpStatusCode.Forbidden, "Link expired", "the one-second link");
        }

        Assert.True(refusedAt >= shortLink.ExpiresAt, "refused before it expired");
    }

    [Fact]
    public async Task RunnerToken_AsksForAnotherBuildOrAPathOutside_IsRefused()
    {
        using var client = fixture.Server.CreateClient();
        var finished = await ApiCalls.StartBuildAsync(client, NewProjectId("tok-a"), ApiCalls.QuickBuild);
        await ApiCalls.WaitForEndAsync(client, finished.Id);
        var running = await ApiCalls.StartBuildAsync(client, NewProjectId("tok-b"), new Dictionary<string, string> { ["build.sh"] = "sleep 300\n" });
        var current = await ApiCalls.WaitForAsync(client, running.Id, b => b.Phase == BuildPhase.Building);
        var tokens = new BuildTokenService(ServerSecrets.Load(null, fixture.Server.DataDirectory));
        using var runner = new HttpClient { BaseAddress = fixture.Server.Url };

        async Task<HttpResponseMessage> UploadAsync(string buildId, string token, string json)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, RunnerRoutes.Uploads(buildId)) { Content = JsonBody(json) };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            return await runner.SendAsync(request);
        }

        try
        {
            var token = tokens.Issue(running.Id, current.Attempt);
            using (var ok = await UploadAsync(running.Id, token, "{\"kind\":\"artifact\",\"name\":\"app.jar\"}"))
            {
                Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
            }

            foreach (var name in new[] { "../../x", "../x", "a/b", "..", "/etc/passwd", "x\\\\..\\\\y" })
            {
                await BadInputTests.AssertProblemAsync(await UploadAsync(running.Id, token, $"{{\"kind\":\"artifact\",\"name\":\"{name}\"}}"), HttpStatusCode.BadRequest, "Invalid artifact name", name);
            }

            // The token of one build used on another build: refused, whichever build it names.
            await BadInputTests.AssertProblemAsync(await UploadAsync(finished.Id, token, "{\"kind\":\"result\"}"), HttpStatusCode.Forbidden, "Wrong build", "token of B on A");
            await BadInputTests.AssertProblemAsync(await UploadAsync(running.Id, tokens.Issue(finished.Id, 1), "{\"kind\":\"result\"}"), HttpStatusCode.Forbidden, "Wrong build", "token of A on B");

            // A token stops working when its build has ended.
            await BadInputTests.AssertProblemAsync(await UploadAsync(finished.Id, tokens.Issue(finished.Id, 1), "{\"kind\":\"result\"}"), HttpStatusCode.Conflict, null, "token of an ended build");
        }
        finally
        {
            await client.PostAsync(ApiRoutes.CancelBuild(running.Id), null);
        }
    }
}
