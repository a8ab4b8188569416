using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using AutoBuilder.Core.Api;
using AutoBuilder.EndToEnd.Tests.Infrastructure;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>Bad input gets the right 4xx as problem+json that says what is wrong; nothing is written; the server stays healthy.</summary>
public sealed class BadInputTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private const string Project = "bad-input";

    public static TheoryData<string, string, byte[], HttpStatusCode, string> Uploads => new()
    {
        { "not a zip", "application/zip", Encoding.UTF8.GetBytes("definitely not a zip archive"), HttpStatusCode.BadRequest, "Not a ZIP archive" },
        { "empty body", "application/zip", [], HttpStatusCode.BadRequest, "Empty body" },
        { "zip slip", "application/zip", ApiCalls.Zip(new Dictionary<string, string> { ["../../escape.txt"] = "x" }), HttpStatusCode.BadRequest, "Unsafe archive entry" },
        { "absolute entry", "application/zip", ApiCalls.Zip(new Dictionary<string, string> { ["/etc/passwd"] = "x" }), HttpStatusCode.BadRequest, "Unsafe archive entry" },
        { "wrong content type", "text/plain", ApiCalls.Zip(new Dictionary<string, string> { ["build.sh"] = "true" }), HttpStatusCode.UnsupportedMediaType, "Unsupported content type" },
    };

    [Theory]
    [MemberData(nameof(Uploads))]
    public async Task UploadSource_BadBody_IsRefusedAndNothingIsStored(string why, string contentType, byte[] body, HttpStatusCode expected, string title)
    {
        using var client = fixture.Server.CreateClient();
        await ApiCalls.CreateProjectAsync(client, Project);
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue(contentType);

        using var response = await client.PostAsync(ApiRoutes.Sources(Project), content);

        await AssertProblemAsync(response, expected, title, why);
        var uploads = Path.Combine(fixture.Server.BlobRoot, "uploads", Project);
        Assert.True(!Directory.Exists(uploads) || Directory.GetFiles(uploads, "*", SearchOption.AllDirectories).Length == 0, $"{why}: something was stored");
        Assert.Empty(Directory.GetFiles(Path.Combine(fixture.Server.DataDirectory, "tmp")));
        await AssertHealthyAsync();
    }

    [Theory]
    [InlineData("GET", "api/v1/projects/no-such-project", HttpStatusCode.NotFound)]
    [InlineData("GET", "api/v1/projects/Invalid..Id", HttpStatusCode.NotFound)]
    [InlineData("GET", "api/v1/builds/0123456789abcdef0123456789abcdef", HttpStatusCode.NotFound)]
    [InlineData("GET", "api/v1/builds/not-an-id", HttpStatusCode.NotFound)]
    [InlineData("GET", "api/v1/builds/0123456789abcdef0123456789abcdef/log", HttpStatusCode.NotFound)]
    [InlineData("GET", "api/v1/builds/0123456789abcdef0123456789abcdef/result", HttpStatusCode.NotFound)]
    [InlineData("POST", "api/v1/builds/0123456789abcdef0123456789abcdef/cancel", HttpStatusCode.NotFound)]
    [InlineData("PUT", "api/v1/projects/UPPER_case", HttpStatusCode.BadRequest)]
    [InlineData("GET", "api/v1/no-such-endpoint", HttpStatusCode.NotFound)]
    public async Task Request_UnknownOrInvalidId_IsProblem(string method, string path, HttpStatusCode expected)
    {
        using var client = fixture.Server.CreateClient();
        using var response = await client.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));
        await AssertProblemAsync(response, expected, null, path);
    }

    /// <summary>
    /// A query parameter that does not bind is a 400 whatever the id, as when each endpoint looked its id up itself:
    /// the ownership filter, which runs even after a binding failure, must not turn it into a 404.
    /// </summary>
    [Theory]
    [InlineData("api/v1/builds/0123456789abcdef0123456789abcdef/log?follow=maybe")]
    [InlineData("api/v1/projects/no-such-project/builds?limit=many")]
    public async Task Request_UnboundQueryParameter_IsBadRequest_WhateverTheId(string path)
    {
        using var client = fixture.Server.CreateClient();
        using var response = await client.GetAsync(path);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Theory]
    [InlineData("{\"sourceId\": ", "Malformed JSON")]
    [InlineData("[1,2,3]", "Malformed JSON")]
    [InlineData("{\"sourceId\": \"0123456789abcdef0123456789abcdef\"}", "Unknown source")]
    [InlineData("{}", "Unknown source")]
    [InlineData("{\"sourceId\": \"x\", \"toolchain\": \"cobol\"}", "Unknown source")]
    public async Task CreateBuild_BadJson_IsBadRequest(string json, string title)
    {
        using var client = fixture.Server.CreateClient();
        await ApiCalls.CreateProjectAsync(client, Project);
        using var content = new StringContent(json, Encoding.UTF8, "application/json");

        using var response = await client.PostAsync(ApiRoutes.ProjectBuilds(Project), content);

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, title, json);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("abk_wrong")]
    [InlineData("not even a key")]
    public async Task Request_MissingOrWrongApiKey_IsUnauthorized(string? key)
    {
        using var client = new HttpClient { BaseAddress = fixture.Server.Url };
        if (key is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        using var response = await client.GetAsync(ApiRoutes.Projects);

        await AssertProblemAsync(response, HttpStatusCode.Unauthorized, "Unauthorized", key ?? "no key");
        await AssertHealthyAsync();
    }

    private async Task AssertHealthyAsync()
    {
        using var client = new HttpClient { BaseAddress = fixture.Server.Url };
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("readyz")).StatusCode);
    }

    internal static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode expected, string? title, string because)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"{because}: expected {expected}, got {response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(body);
        var actualTitle = problem.RootElement.GetProperty("title").GetString();
        if (title is not null)
        {
            Assert.Equal(title, actualTitle);
        }

        Assert.False(string.IsNullOrWhiteSpace(actualTitle));
        Assert.True(problem.RootElement.TryGetProperty("detail", out var detail) && !string.IsNullOrWhiteSpace(detail.GetString()), $"{because}: no detail in {body}");
    }
}
