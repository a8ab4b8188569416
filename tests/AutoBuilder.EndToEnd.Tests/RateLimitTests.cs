using System.Net;
using System.Net.Http.Json;
using AutoBuilder.Core;
using AutoBuilder.Core.Api;
using AutoBuilder.EndToEnd.Tests.Infrastructure;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>
/// A server with a known bucket: 50 requests at once, refilled at one a second. The slow refill makes "over the limit"
/// a matter of counts, not speed: 400 requests pass only if they take over 350 s, however loaded the machine is
/// (with 50 a second, a machine slower than 57 requests a second never saw a 429).
/// </summary>
public sealed class RateLimitServerFixture : ServerFixture
{
    public const int Burst = 50;

    protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        ["RateLimits:PermitsPerSecond"] = "1",
        ["RateLimits:Burst"] = Burst.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}

/// <summary>One key flooding the API gets 429 with Retry-After; another user in the same window is not affected.</summary>
public sealed class RateLimitTests(RateLimitServerFixture fixture) : IClassFixture<RateLimitServerFixture>
{
    [Fact]
    public async Task OneKeyOverItsLimit_Gets429WithRetryAfter_WhileAnotherUserSucceeds()
    {
        using var admin = fixture.Server.CreateClient();
        using var flooder = fixture.Server.CreateClient(await NewKeyAsync(admin, "flood-user"));
        using var neighbour = fixture.Server.CreateClient(await NewKeyAsync(admin, "quiet-user"));
        using var probe = new HttpClient { BaseAddress = fixture.Server.Url };

        // 400 requests from one key, in batches of 20 at most every 100 ms: eight times its bucket.
        var floodStatuses = new List<HttpStatusCode>();
        var retryAfters = new List<string>();
        var neighbourStatuses = new List<HttpStatusCode>();
        var flood = Task.Run(async () =>
        {
            for (var batch = 0; batch < 20; batch++)
            {
                var pacing = Task.Delay(100);
                var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => flooder.GetAsync(ApiRoutes.Projects)));
                foreach (var answer in answers)
                {
                    // Only this task touches these lists until it is awaited.
                    floodStatuses.Add(answer.StatusCode);
                    if (answer.StatusCode == HttpStatusCode.TooManyRequests)
                    {
                        retryAfters.Add(answer.Headers.RetryAfter?.ToString() ?? "");
                        Assert.Equal("application/problem+json", answer.Content.Headers.ContentType?.MediaType);
                        Assert.Contains("Too many requests", await answer.Content.ReadAsStringAsync(), StringComparison.Ordinal);
                    }

                    answer.Dispose();
                }

                await pacing;
            }
        });

        // Meanwhile another user calls at a modest pace, never more often than its bucket holds (so its answers do not
        // depend on the machine's speed either), and probes stay unlimited.
        while (!flood.IsCompleted && neighbourStatuses.Count < RateLimitServerFixture.Burst - 10)
        {
            using var answer = await neighbour.GetAsync(ApiRoutes.Projects);
            neighbourStatuses.Add(answer.StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await probe.GetAsync("healthz")).StatusCode);
            await Task.WhenAny(flood, Task.Delay(100));
        }

        await flood;
        Assert.Equal(400, floodStatuses.Count);
        Assert.All(floodStatuses, s => Assert.True(s is HttpStatusCode.OK or HttpStatusCode.TooManyRequests, $"unexpected {s}"));
        Assert.Contains(HttpStatusCode.TooManyRequests, floodStatuses);
        Assert.Contains(HttpStatusCode.OK, floodStatuses);
        Assert.All(retryAfters, r => Assert.True(int.TryParse(r, out var seconds) && seconds >= 1, $"Retry-After '{r}'"));
        Assert.NotEmpty(neighbourStatuses);
        Assert.All(neighbourStatuses, s => Assert.Equal(HttpStatusCode.OK, s));
    }

    private static async Task<string> NewKeyAsync(HttpClient admin, string user)
    {
        using var created = await admin.PostAsync(ApiRoutes.UserKeys(user), null);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        return (await created.Content.ReadFromJsonAsync<ApiKeyCreated>(AutoBuilderJson.Options))!.Key;
    }
}
