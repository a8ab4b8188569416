using AutoBuilder.Core.Builds;
using AutoBuilder.Server.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AutoBuilder.Server.Tests.Persistence;

/// <summary>
/// <see cref="BuildTransitions"/>, the one owner of a build's state changes, on both providers: each compare-and-set
/// wins only from the state it names, every way out of Running clears the lease, and nothing moves a finished build.
/// Each scope here is its own context and connection, as in another process.
/// </summary>
public sealed class BuildTransitionsTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);
    private static readonly DateTimeOffset ClaimedAt = new(2026, 11, 30, 8, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Later = ClaimedAt + TimeSpan.FromSeconds(10);
    private static readonly BuildCompletion Succeeded = new(BuildStatus.Succeeded, 0, null, "script", "sh build.sh", "1.0.0", 1, 2, 3);

    /// <summary>Every change a message can ask for, by name; each returns whether it won. Times are after the claim.</summary>
    private static readonly Dictionary<string, Func<BuildTransitions, string, int, Task<bool>>> Changes = new()
    {
        ["claim"] = async (t, id, _) => await t.TryClaimAsync(id, "d2", Later, Lease, ClaimedAt) is not null,
        ["renew"] = async (t, id, _) => await t.RenewLeasesAsync([id], "d1", Later + Lease) == 1,
        ["phase"] = (t, id, attempt) => t.TryRecordPhaseAsync(id, attempt, BuildPhase.Publishing, Later),
        // Far past the lease: an orphan at this attempt would be taken.
        ["take-orphan"] = (t, id, attempt) => t.TryTakeOrphanAsync(id, attempt, "d2", Later + Lease + Lease, Lease),
        ["requeue"] = (t, id, attempt) => t.TryRequeueAsync(id, attempt, "requeued: test"),
        ["finish"] = (t, id, attempt) => t.TryFinishAsync(id, attempt, BuildStatus.TimedOut, "timed out", Later),
        ["complete"] = (t, id, attempt) => t.TryCompleteAsync(id, attempt, Succeeded, Later),
        ["cancel"] = (t, id, _) => t.TryCancelAsync(id, "cancelled by alice", Later),
        ["steps"] = (t, id, attempt) => t.TryReplaceStepsAsync(id, attempt, [new BuildStep("s", StepStatus.Running, StartedAt: Later)], Later),
    };

    private static readonly string[] Providers = ["Sqlite", "Postgres"];

    /// <summary>An attempt's steps mid-build: one done, one running, one still to come.</summary>
    private static readonly BuildStep[] ThreeSteps =
    [
        new("compile", StepStatus.Succeeded, 0, ClaimedAt, 1.5),
        new("test", StepStatus.Running, StartedAt: ClaimedAt),
        new("package", StepStatus.Pending),
    ];

    /// <summary>The ways out of Running and the row each leaves: status, error, finish time.</summary>
    private static readonly Dictionary<string, (BuildStatus Status, string? Error, DateTimeOffset? FinishedAt)> Ends = new()
    {
        ["requeue"] = (BuildStatus.Queued, "requeued: test", null),
        ["finish"] = (BuildStatus.TimedOut, "timed out", Later),
        ["complete"] = (BuildStatus.Succeeded, null, Later),
        ["cancel"] = (BuildStatus.Cancelled, "cancelled by alice", Later),
    };

    public static TheoryData<string, string> ProvidersAndEnds => Cross(Ends.Keys);

    public static TheoryData<string, string> ProvidersAndTerminalEnds => Cross(Ends.Keys.Where(e => e != "requeue"));

    /// <summary>The changes a runner or dispatcher makes for one attempt (cancel and claim name no attempt).</summary>
    public static TheoryData<string, string> ProvidersAndAttemptChanges => Cross(["phase", "take-orphan", "requeue", "finish", "complete", "steps"]);

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("Postgres")]
    public async Task TryClaim_ClaimsAQueuedBuildOnce_WithANewAttemptAndLease(string provider)
    {
        await using var app = await MetadataApp.CreateAsync(await MetadataApp.ProviderSettingsAsync(provider, postgres));
        var build = await DataAccessTests.CreateBuildsAsync(app, "claim", 1);
        var now = DateTimeOffset.UtcNow;

        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AutoBuilderDbContext>();
        var first = await new BuildTransitions(db).TryClaimAsync(build[0].Id, "d1", now, Lease, build[0].QueuedAt);
        var second = await new BuildTransitions(db).TryClaimAsync(build[0].Id, "d2", now, Lease, build[0].QueuedAt);

        Assert.Equal(1, first);
        Assert.Null(second);
        var row = await db.Builds.AsNoTracking().SingleAsync(b => b.Id == build[0].Id);
        Assert.Equal(BuildStatus.Running, row.Status);
        Assert.Equal("d1", row.LeaseOwner);
        Assert.Equal(now + Lease, row.LeaseExpiresAt!.Value, TimeSpan.FromMilliseconds(1));
        Assert.Equal(now, row.StartedAt!.Value, TimeSpan.FromMilliseconds(1));
        // The recovery query compares lease times in the database.
        Assert.Equal(0, await db.Builds.CountAsync(b => b.Status == BuildStatus.Running && b.LeaseExpiresAt < now));
        Assert.Equal(1, await db.Builds.CountAsync(b => b.Status == BuildStatus.Running && b.LeaseExpiresAt < now + Lease + Lease));
    }

    /// <summary>The race of several dispatchers: many claimers, each on its own connection, all after the same builds.</summary>
    [Theory]
    [InlineData("Sqlite")]
    [InlineData("Postgres")]
    public async Task TryClaim_ManyConcurrentClaimers_ClaimEachBuildExactlyOnce(string provider)
    {
        await using var app = await MetadataApp.CreateAsync(await MetadataApp.ProviderSettingsAsync(provider, postgres));
        var builds = await DataAccessTests.CreateBuildsAsync(app, "race", 30);
        var now = DateTimeOffset.UtcNow;

        var wins = await Task.WhenAll(Enumerable.Range(0, 12).Select(claimer => Task.Run(async () =>
        {
            await using var scope = app.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<AutoBuilderDbContext>();
            var won = new List<string>();
            // Every claimer walks the whole queue, each from a different starting point, as fair order differs per dispatcher.
            foreach (var build in builds.Skip(claimer).Concat(builds.Take(claimer)))
            {
                if (await new BuildTransitions(db).TryClaimAsync(build.Id, $"d{claimer}", now, Lease, build.QueuedAt) is not null)
                {
                    won.Add(build.Id);
                }
            }

            return won;
        })));

        var claimed = wins.SelectMany(w => w).ToList();
        Assert.Equal(builds.Select(b => b.Id).Order(StringComparer.Ordinal), claimed.Order(StringComparer.Ordinal));
        await using var check = app.Services.CreateAsyncScope();
        var rows = await check.ServiceProvider.GetRequiredService<AutoBuilderDbContext>().Builds.AsNoTracking().ToListAsync();
        Assert.All(rows, r => Assert.Equal((BuildStatus.Running, 1), (r.Status, r.Attempt)));
        Assert.Equal(claimed.Count, rows.Select(r => (r.Id, r.LeaseOwner)).Distinct().Count());
    }

    /// <summary>
    /// PostgreSQL: a build whose row another dispatcher holds locked (it is claiming it right now) is skipped, not waited
    /// for; once the lock is gone the build can be claimed. A claim that waited would hold this test until the lock goes,
    /// which it never would.
    /// </summary>
    [Fact]
    public async Task TryClaim_OnPostgres_SkipsARowAnotherClaimHoldsLocked()
    {
        await using var app = await MetadataApp.CreateAsync(await MetadataApp.ProviderSettingsAsync("Postgres", postgres));
        var build = (await DataAccessTests.CreateBuildsAsync(app, "skip-locked", 1))[0].Id;
        await using var other = app.Services.CreateAsyncScope();
        var otherDb = other.ServiceProvider.GetRequiredService<AutoBuilderDbContext>();

        await using (var transaction = await otherDb.Database.BeginTransactionAsync())
        {
            var locked = await otherDb.Builds.FromSql($"""SELECT * FROM builds WHERE "Id" = {build} FOR UPDATE""").CountAsync();
            Assert.Equal(1, locked);

            Assert.Null(await WithTransitionsAsync(app, t => t.TryClaimAsync(build, "d1", ClaimedAt, Lease, ClaimedAt)));

            await transaction.RollbackAsync();
        }

        Assert.Equal(1, await WithTransitionsAsync(app, t => t.TryClaimAsync(build, "d1", ClaimedAt, Lease, ClaimedAt)));
    }

    [Theory]
    [MemberData(nameof(ProvidersAndEnds))]
    public async Task EveryWayOutOfRunning_WritesItsStatus_AndClearsPhaseAndLease(string provider, string end)
    {
        await using var app = await MetadataApp.CreateAsync(await MetadataApp.ProviderSettingsAsync(provider, postgres));
        var build = await RunningBuildAsync(app, "ends");
        await WithTransitionsAsync(app, t => t.TryRecordPhaseAsync(build, 1, BuildPhase.Building, ClaimedAt));

        Assert.True(await WithTransitionsAsync(app, t => Changes[end](t, build, 1)));

        var row = await RowAsync(app, build);
        var expected = Ends[end];
        Assert.Equal((expected.Status, expected.Error, BuildPhase.None, (string?)null, (DateTimeOffset?)null, 1),
            (row.Status, row.Error, row.Phase, row.LeaseOwner, row.LeaseExpiresAt, row.Attempt));
        AssertTime(expected.FinishedAt, row.FinishedAt);
        if (end == "complete")
        {
            Assert.Equal((0, "script", "sh build.sh", "1.0.0", 1.0, 2.0, 3.0),
                (row.ExitCode, row.Toolchain, row.Command, row.Version, row.StageSeconds, row.BuildSeconds, row.PublishSeconds));
        }
    }

    /// <summary>
    /// The attempt's steps on each way out of Running: a requeue drops them (the next attempt reports its own); a cancel or
    /// a dispatcher's end settles the running step as the build ended and skips the rest; complete leaves them to the runner's report.
    /// </summary>
    [Theory]
    [MemberData(nameof(ProvidersAndEnds))]
    public async Task EveryWayOutOfRunning_LeavesNoStepRunningOrPending(string provider, string end)
    {
        await using var app = await MetadataApp.CreateAsync(await MetadataApp.ProviderSettingsAsync(provider, postgres));
        var build = await RunningBuildAsync(app, "steps");
        var steps = new List<BuildStep>
        {
            new("compile", StepStatus.Succeeded, 0, ClaimedAt, 1.5),
            new("test", StepStatus.Running, StartedAt: ClaimedAt),
            new("package", StepStatus.Pending),
        };
        Assert.True(await WithTransitionsAsync(app, t => t.TryReplaceStepsAsync(build, 1, steps, ClaimedAt)));
        Assert.Equal(steps.Select(s => (s.Name, s.Status, s.ExitCode, s.DurationSeconds)), (await StepsAsync(app, build)).Select(s => (s.Name, s.Status, s.ExitCode, s.DurationSeconds)));

        Assert.True(await WithTransitionsAsync(app, t => Changes[end](t, build, 1)));

        var expected = end switch
        {
            "requeue" => [],
            "finish" => [StepStatus.Succeeded, StepStatus.TimedOut, StepStatus.Skipped],
            "cancel" => [StepStatus.Succeeded, StepStatus.Cancelled, StepStatus.Skipped],
            _ => new[] { StepStatus.Succeeded, StepStatus.Running, StepStatus.Pending },
        };
        Assert.Equal(expected, (await StepsAsync(app, build)).Select(s => s.Status));
    }

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("Postgres")]
    public async Task TryReplaceSteps_ReplacesTheWholeList(string provider)
    {
        await using var app = await MetadataApp.CreateAsync(await MetadataApp.ProviderSettingsAsync(provider, postgres));
        var build = await RunningBuildAsync(app, "replace");
        Assert.True(await WithTransitionsAsync(app, t => t.TryReplaceStepsAsync(build, 1, [new BuildStep("a", StepStatus.Running), new BuildStep("b", StepStatus.Pending)], ClaimedAt)));

        Assert.True(await WithTransitionsAsync(app, t => t.TryReplaceStepsAsync(build, 1, [new BuildStep("a", StepStatus.Failed, 2, ClaimedAt, 3)], Later)));

        var step = Assert.Single(await StepsAsync(app, build));
        Assert.Equal(("a", 0, StepStatus.Failed, (int?)2, (double?)3), (step.Name, step.Index, step.Status, step.ExitCode, step.DurationSeconds));
        AssertTime(ClaimedAt, step.StartedAt);
        AssertTime(Later, (await RowAsync(app, build)).HeartbeatAt);
    }

    /// <summary>A finished build is final: no late message, claim, lease renewal or cancel changes a column of it or of its steps.</summary>
    [Theory]
    [MemberData(nameof(ProvidersAndTerminalEnds))]
    public async Task AFinishedBuild_IsMovedByNoChange(string provider, string end)
    {
        await using var app = await MetadataApp.CreateAsync(await MetadataApp.ProviderSettingsAsync(provider, postgres));
        var build = await RunningBuildAsync(app, "final");
        Assert.True(await WithTransitionsAsync(app, t => t.TryReplaceStepsAsync(build, 1, ThreeSteps, ClaimedAt)));
        Assert.True(await WithTransitionsAsync(app, t => Changes[end](t, build, 1)));
        var finished = await RowAsync(app, build);
        var finishedSteps = await StepsAsync(app, build);
        Assert.Equal(3, finishedSteps.Count);

        foreach (var (name, change) in Changes)
        {
            Assert.False(await WithTransitionsAsync(app, t => change(t, build, 1)), $"{name} after {end}");
        }

        Assert.Equivalent(finished, await RowAsync(app, build), strict: true);
        Assert.Equivalent(finishedSteps, await StepsAsync(app, build), strict: true);
    }

    /// <summary>A runner or dispatcher of an older attempt changes nothing once the build was retried and claimed again.</summary>
    [Theory]
    [MemberData(nameof(ProvidersAndAttemptChanges))]
    public async Task AChangeForAnOlderAttempt_ChangesNothing(string provider, string change)
    {
        await using var app = await MetadataApp.CreateAsync(await MetadataApp.ProviderSettingsAsync(provider, postgres));
        var build = await RunningBuildAsync(app, "stale");
        Assert.True(await WithTransitionsAsync(app, t => t.TryRequeueAsync(build, 1, "retrying")));
        Assert.Equal(2, await WithTransitionsAsync(app, t => t.TryClaimAsync(build, "d1", ClaimedAt, Lease, ClaimedAt)));
        Assert.True(await WithTransitionsAsync(app, t => t.TryReplaceStepsAsync(build, 2, ThreeSteps, ClaimedAt)));
        var current = await RowAsync(app, build);
        var currentSteps = await StepsAsync(app, build);
        Assert.Equal(3, currentSteps.Count);

        Assert.False(await WithTransitionsAsync(app, t => Changes[change](t, build, 1)));

        Assert.Equivalent(current, await RowAsync(app, build), strict: true);
        Assert.Equivalent(currentSteps, await StepsAsync(app, build), strict: true);
        // The positive control: the same change for the current attempt wins.
        Assert.True(await WithTransitionsAsync(app, t => Changes[change](t, build, 2)));
    }

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("Postgres")]
    public async Task RenewLeases_ExtendsOnlyTheOwnersRunningBuilds(string provider)
    {
        await using var app = await MetadataApp.CreateAsync(await MetadataApp.ProviderSettingsAsync(provider, postgres));
        var builds = await DataAccessTests.CreateBuildsAsync(app, "renew", 3);
        Assert.Equal(1, await WithTransitionsAsync(app, t => t.TryClaimAsync(builds[0].Id, "d1", ClaimedAt, Lease, ClaimedAt)));
        Assert.Equal(1, await WithTransitionsAsync(app, t => t.TryClaimAsync(builds[1].Id, "d2", ClaimedAt, Lease, ClaimedAt)));
        var until = Later + Lease;

        var renewed = await WithTransitionsAsync(app, t => t.RenewLeasesAsync([.. builds.Select(b => b.Id)], "d1", until));

        Assert.Equal(1, renewed);
        AssertTime(until, (await RowAsync(app, builds[0].Id)).LeaseExpiresAt);
        AssertTime(ClaimedAt + Lease, (await RowAsync(app, builds[1].Id)).LeaseExpiresAt);
        Assert.Null((await RowAsync(app, builds[2].Id)).LeaseExpiresAt);
    }

    /// <summary>Who may take a running build's lease: anyone once it expired; before that only the owner's own name (its previous life).</summary>
    [Theory]
    [InlineData("Sqlite", "d2", 31, true)]
    [InlineData("Sqlite", "d2", 29, false)]
    [InlineData("Sqlite", "d1", 0, true)]
    [InlineData("Postgres", "d2", 31, true)]
    [InlineData("Postgres", "d2", 29, false)]
    [InlineData("Postgres", "d1", 0, true)]
    public async Task TryTakeOrphan_TakesAnExpiredLease_OrOneThatCarriesTheTakersName(string provider, string taker, int secondsAfterClaim, bool taken)
    {
        await using var app = await MetadataApp.CreateAsync(await MetadataApp.ProviderSettingsAsync(provider, postgres));
        var build = await RunningBuildAsync(app, "orphan");
        var now = ClaimedAt + TimeSpan.FromSeconds(secondsAfterClaim);

        Assert.Equal(taken, await WithTransitionsAsync(app, t => t.TryTakeOrphanAsync(build, 1, taker, now, Lease)));

        var row = await RowAsync(app, build);
        Assert.Equal((BuildStatus.Running, 1, taken ? taker : "d1"), (row.Status, row.Attempt, row.LeaseOwner));
        AssertTime(taken ? now + Lease : ClaimedAt + Lease, row.LeaseExpiresAt);
    }

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("Postgres")]
    public async Task TryCancel_CancelsAQueuedBuild_WhichNoClaimThenWins(string provider)
    {
        await using var app = await MetadataApp.CreateAsync(await MetadataApp.ProviderSettingsAsync(provider, postgres));
        var build = (await DataAccessTests.CreateBuildsAsync(app, "cancel-queued", 1))[0].Id;

        Assert.True(await WithTransitionsAsync(app, t => t.TryCancelAsync(build, "cancelled by alice", Later)));

        Assert.Null(await WithTransitionsAsync(app, t => t.TryClaimAsync(build, "d1", Later, Lease, ClaimedAt)));
        var row = await RowAsync(app, build);
        Assert.Equal((BuildStatus.Cancelled, 0, (string?)null), (row.Status, row.Attempt, row.LeaseOwner));
    }

    /// <summary>A transition that is not an end is refused before it reaches the database.</summary>
    [Theory]
    [InlineData(BuildStatus.Queued)]
    [InlineData(BuildStatus.Running)]
    public async Task TryFinish_ToANonTerminalStatus_Throws(BuildStatus status)
    {
        await using var app = await MetadataApp.CreateAsync(await MetadataApp.ProviderSettingsAsync("Sqlite", postgres));
        var build = await RunningBuildAsync(app, "not-an-end");

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => WithTransitionsAsync(app, t => t.TryFinishAsync(build, 1, status, "no", Later)));
        Assert.Equal(BuildStatus.Running, (await RowAsync(app, build)).Status);
    }

    private static TheoryData<string, string> Cross(IEnumerable<string> names)
    {
        var data = new TheoryData<string, string>();
        foreach (var provider in Providers)
        {
            foreach (var name in names)
            {
                data.Add(provider, name);
            }
        }

        return data;
    }

    /// <summary>A build claimed by "d1" at <see cref="ClaimedAt"/>: running at attempt 1.</summary>
    private static async Task<string> RunningBuildAsync(MetadataApp app, string projectId)
    {
        var build = (await DataAccessTests.CreateBuildsAsync(app, projectId, 1))[0];
        Assert.Equal(1, await WithTransitionsAsync(app, t => t.TryClaimAsync(build.Id, "d1", ClaimedAt, Lease, ClaimedAt)));
        return build.Id;
    }

    private static async Task<T> WithTransitionsAsync<T>(MetadataApp app, Func<BuildTransitions, Task<T>> change)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await change(new BuildTransitions(scope.ServiceProvider.GetRequiredService<AutoBuilderDbContext>()));
    }

    private static async Task<BuildEntity> RowAsync(MetadataApp app, string buildId)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AutoBuilderDbContext>().Builds.AsNoTracking().SingleAsync(b => b.Id == buildId);
    }

    private static async Task<List<BuildStepEntity>> StepsAsync(MetadataApp app, string buildId)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AutoBuilderDbContext>().BuildSteps.AsNoTracking()
            .Where(s => s.BuildId == buildId).OrderBy(s => s.Index).ToListAsync();
    }

    private static void AssertTime(DateTimeOffset? expected, DateTimeOffset? actual)
    {
        Assert.Equal(expected.HasValue, actual.HasValue);
        if (expected is { } e)
        {
            Assert.Equal(e, actual!.Value, TimeSpan.FromMilliseconds(1));
        }
    }
}
