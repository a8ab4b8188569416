using System.Security.Cryptography;
using AutoBuilder.Core.Builds;
using AutoBuilder.EndToEnd.Tests.Infrastructure;
using AutoBuilder.Tests.Shared;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>
/// Failover between dispatcher processes: one API and two `serve --role dispatcher` on one PostgreSQL, with a short
/// lease. The dispatcher running a build is killed; the other, live all along, takes the build over once the dead one's
/// lease has expired, and the build succeeds on its next attempt.
/// </summary>
public sealed class DispatcherFailoverTests
{
    private const string AdminKey = "abk_dispatcherFailoverAdminKey0123456789abcdefghij";
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(3);

    /// <summary>
    /// The first attempt marks the project's dependency cache (shared by both dispatchers, which share the data folder)
    /// and then outlasts the test; an attempt that finds the mark finishes at once. So only a takeover can end the build.
    /// </summary>
    private static readonly Dictionary<string, string> FirstAttemptHangs = new()
    {
        ["build.sh"] = """
            if [ -f "$AUTOBUILDER_CACHE/first-attempt" ]; then
              echo "later attempt ran"
            else
              touch "$AUTOBUILDER_CACHE/first-attempt"
              echo "first attempt running"
              sleep 600
            fi

            """,
    };

    [Fact]
    public async Task DispatcherKilled_WhileItRunsABuild_TheOtherTakesItOverOnceTheLeaseExpires()
    {
        var root = TestPaths.NewTempDirectory("failover");
        var data = Path.Combine(root, "data");
        await using var postgres = await PostgresServer.StartAsync();
        var shared = new Dictionary<string, string>
        {
            ["Metadata:Provider"] = "Postgres",
            ["ConnectionStrings:Metadata"] = await postgres.CreateDatabaseAsync("autobuilder"),
            ["Auth:BootstrapAdminKey"] = AdminKey,
            ["Storage:SigningKey"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
            ["Dispatcher:LeaseDuration"] = Lease.ToString(),
            ["Dispatcher:PollInterval"] = "00:00:00.200",
            // The attempts meet in the project's shared cache folder (keyed caches are private to an attempt).
            ["Caches:Mode"] = "Shared",
        };
        await using var api = await ServerProcess.StartAsync(data, With(shared, ("Executor:WorkspaceRoot", Path.Combine(root, "api-ws"))), role: "api");
        var dispatchers = await Task.WhenAll(Enumerable.Range(1, 2).Select(i => ServerProcess.StartAsync(data,
            With(shared, ("Executor:WorkspaceRoot", Path.Combine(root, $"dispatcher{i}-ws")), ("Dispatcher:ApiUrl", api.Url.ToString())),
            role: "dispatcher")));
        try
        {
            using var client = api.CreateClient(AdminKey);
            var build = await ApiCalls.StartBuildAsync(client, "failover", FirstAttemptHangs);
            await WaitUntilAsync(async () => (await ApiCalls.GetLogAsync(client, build.Id)).Contains("first attempt running", StringComparison.Ordinal));
            var firstAttempt = await ApiCalls.GetBuildAsync(client, build.Id);
            Assert.Equal((BuildStatus.Running, 1), (firstAttempt.Status, firstAttempt.Attempt));
            await WaitUntilAsync(() => Task.FromResult(dispatchers.Any(d => d.Output.Contains($"Started build {build.Id}", StringComparison.Ordinal))));
            var owner = dispatchers.Single(d => d.Output.Contains($"Started build {build.Id}", StringComparison.Ordinal));
            var survivor = dispatchers.Single(d => d != owner);

            await owner.KillAsync();
            var ended = await ApiCalls.WaitForEndAsync(client, build.Id);

            Assert.Equal((BuildStatus.Succeeded, 2), (ended.Status, ended.Attempt));
            Assert.Contains($"Started build {build.Id} (failover #1) attempt 2", survivor.Output, StringComparison.Ordinal);
            var log = await ApiCalls.GetLogAsync(client, build.Id);
            Assert.Contains("[autobuilder] attempt 1 failed: the runner was lost (its dispatcher stopped while the build ran); retrying", log, StringComparison.Ordinal);
            Assert.Contains("later attempt ran", log, StringComparison.Ordinal);
            // The survivor waited for the lease: the dead dispatcher held it from its claim on (renewals only extend it),
            // so the second claim comes a whole lease after the first at the earliest. Both times are the servers' records.
            Assert.True(ended.StartedAt >= firstAttempt.StartedAt + Lease,
                $"attempt 2 was claimed at {ended.StartedAt:O}, less than a lease ({Lease}) after attempt 1 at {firstAttempt.StartedAt:O}");
        }
        finally
        {
            foreach (var dispatcher in dispatchers)
            {
                await dispatcher.DisposeAsync();
            }
        }

        Directory.Delete(root, recursive: true);
    }

    /// <summary>Polls a condition the servers will reach (bounded, so a broken server fails the test instead of hanging it).</summary>
    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        while (!await condition())
        {
            await Task.Delay(100, timeout.Token);
        }
    }

    private static Dictionary<string, string> With(IReadOnlyDictionary<string, string> settings, params (string Key, string Value)[] more)
    {
        var combined = new Dictionary<string, string>(settings);
        foreach (var (key, value) in more)
        {
            combined[key] = value;
        }

        return combined;
    }
}
