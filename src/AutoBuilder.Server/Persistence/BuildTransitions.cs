using AutoBuilder.Core.Builds;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Query;

namespace AutoBuilder.Server.Persistence;

/// <summary>
/// The one owner of a build's state changes. Every transition is a compare-and-set — an UPDATE whose WHERE names the
/// state it expects — so several processes can share one database and a late message never moves a finished build.
/// Each method says whether it won; losing is normal (another dispatcher, a cancel or the runner was first).
/// </summary>
/// <remarks>
/// Wraps a context rather than being registered itself: the callers already hold a scoped context (the dispatcher
/// one per tick), and the transitions must run on it, inside the caller's transaction where there is one.
/// </remarks>
public sealed class BuildTransitions(AutoBuilderDbContext db)
{
    /// <summary>
    /// Queued → Running under a new attempt and a lease; returns the attempt, or null if someone else was first.
    /// One statement, so two dispatchers can never both win a build.
    /// </summary>
    public async Task<int?> TryClaimAsync(string buildId, string leaseOwner, DateTimeOffset now, TimeSpan lease, DateTimeOffset queuedAt, CancellationToken cancellationToken = default)
    {
        var claimed = await QueuedRow(buildId)
            .ExecuteUpdateAsync(s => s
                .SetProperty(b => b.Status, BuildStatus.Running)
                .SetProperty(b => b.Attempt, b => b.Attempt + 1)
                .SetProperty(b => b.Phase, BuildPhase.None)
                .SetProperty(b => b.StartedAt, now)
                .SetProperty(b => b.HeartbeatAt, now)
                .SetProperty(b => b.QueueSeconds, (now - queuedAt).TotalSeconds)
                .SetProperty(b => b.LeaseOwner, leaseOwner)
                .SetProperty(b => b.LeaseExpiresAt, now + lease), cancellationToken);
        // Nothing else changes the attempt of a build just claimed: a new claim needs it queued again first.
        return claimed == 0
            ? null
            : await db.Builds.AsNoTracking().Where(b => b.Id == buildId).Select(b => b.Attempt).SingleAsync(cancellationToken);
    }

    /// <summary>Extends the leases this owner holds on the given running builds to <paramref name="until"/>.</summary>
    public Task<int> RenewLeasesAsync(IReadOnlyCollection<string> buildIds, string leaseOwner, DateTimeOffset until, CancellationToken cancellationToken = default) =>
        db.Builds.Where(b => buildIds.Contains(b.Id) && b.LeaseOwner == leaseOwner && b.Status == BuildStatus.Running)
            .ExecuteUpdateAsync(s => s.SetProperty(b => b.LeaseExpiresAt, until), cancellationToken);

    /// <summary>
    /// Takes the lease of an orphan — a running build whose lease expired, or that carries this owner's name from
    /// before a restart — at the attempt it was seen at. The caller then adopts the attempt, or retries or fails it.
    /// </summary>
    public async Task<bool> TryTakeOrphanAsync(string buildId, int attempt, string leaseOwner, DateTimeOffset now, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        var until = now + lease;
        var taken = await CurrentAttempt(buildId, attempt)
            .Where(b => b.LeaseExpiresAt < now || b.LeaseOwner == leaseOwner)
            .ExecuteUpdateAsync(s => s.SetProperty(b => b.LeaseOwner, leaseOwner).SetProperty(b => b.LeaseExpiresAt, until), cancellationToken);
        return taken == 1;
    }

    /// <summary>The runner's phase report, which doubles as its heartbeat. The status does not change.</summary>
    public async Task<bool> TryRecordPhaseAsync(string buildId, int attempt, BuildPhase phase, DateTimeOffset now, CancellationToken cancellationToken = default) =>
        await CurrentAttempt(buildId, attempt)
            .ExecuteUpdateAsync(s => s.SetProperty(b => b.Phase, phase).SetProperty(b => b.HeartbeatAt, now), cancellationToken) == 1;

    /// <summary>
    /// Replaces the build's steps with the runner's latest report, while the build runs at this attempt (the report
    /// counts as a heartbeat). Run it inside a transaction: the row's update holds off a claim or requeue until the
    /// steps are written, so a stale runner's report can never land after the next attempt's.
    /// </summary>
    public async Task<bool> TryReplaceStepsAsync(string buildId, int attempt, IReadOnlyList<BuildStep> steps, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(steps);
        if (await CurrentAttempt(buildId, attempt).ExecuteUpdateAsync(s => s.SetProperty(b => b.HeartbeatAt, now), cancellationToken) != 1)
        {
            return false;
        }

        await db.BuildSteps.Where(s => s.BuildId == buildId).ExecuteDeleteAsync(cancellationToken);
        db.BuildSteps.AddRange(steps.Select((step, index) => new BuildStepEntity
        {
            BuildId = buildId,
            Index = index,
            Name = step.Name,
            Status = step.Status,
            ExitCode = step.ExitCode,
            StartedAt = step.StartedAt,
            DurationSeconds = step.DurationSeconds,
        }));
        await db.SaveChangesAsync(cancellationToken);
        return true;
    }

    /// <summary>
    /// Running → Queued (retry, shutdown), giving up the lease; <paramref name="note"/> says why in the build's error until
    /// its next end. The attempt's steps go with it: the next attempt reports its own.
    /// </summary>
    public async Task<bool> TryRequeueAsync(string buildId, int attempt, string note, CancellationToken cancellationToken = default)
    {
        var requeued = await CurrentAttempt(buildId, attempt)
            .ExecuteUpdateAsync(s => ClearLease(s
                .SetProperty(b => b.Status, BuildStatus.Queued)
                .SetProperty(b => b.Phase, BuildPhase.None)
                .SetProperty(b => b.Error, note)), cancellationToken) == 1;
        if (requeued)
        {
            await db.BuildSteps.Where(s => s.BuildId == buildId).ExecuteDeleteAsync(cancellationToken);
        }

        return requeued;
    }

    /// <summary>Running → a terminal status the dispatcher decided (timed out, runner lost for good, build's own resource use).</summary>
    public async Task<bool> TryFinishAsync(string buildId, int attempt, BuildStatus status, string error, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        var finished = await CurrentAttempt(buildId, attempt)
            .ExecuteUpdateAsync(s => Terminal(s, status, error, now), cancellationToken) == 1;
        if (finished)
        {
            await SettleStepsAsync(buildId, status, cancellationToken);
        }

        return finished;
    }

    /// <summary>Running → the end the runner reported, with what it reported.</summary>
    public async Task<bool> TryCompleteAsync(string buildId, int attempt, BuildCompletion completion, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(completion);
        return await CurrentAttempt(buildId, attempt)
            .ExecuteUpdateAsync(s => Terminal(s, completion.Status, completion.Error, now)
                .SetProperty(b => b.ExitCode, completion.ExitCode)
                .SetProperty(b => b.Toolchain, completion.Toolchain)
                .SetProperty(b => b.Command, completion.Command)
                .SetProperty(b => b.Version, completion.Version)
                .SetProperty(b => b.StageSeconds, completion.StageSeconds)
                .SetProperty(b => b.BuildSeconds, completion.BuildSeconds)
                .SetProperty(b => b.PublishSeconds, completion.PublishSeconds), cancellationToken) == 1;
    }

    /// <summary>Queued or Running (any attempt) → Cancelled; the dispatcher running it then stops its runner.</summary>
    public async Task<bool> TryCancelAsync(string buildId, string error, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        var cancelled = await db.Builds.Where(b => b.Id == buildId && (b.Status == BuildStatus.Queued || b.Status == BuildStatus.Running))
            .ExecuteUpdateAsync(s => Terminal(s, BuildStatus.Cancelled, error, now), cancellationToken) == 1;
        if (cancelled)
        {
            await SettleStepsAsync(buildId, BuildStatus.Cancelled, cancellationToken);
        }

        return cancelled;
    }

    /// <summary>
    /// The steps of a build that ended without its runner's report (cancel, deadline, lost runner): the running step ends
    /// as the build did (cancelled, timed out; cancelled when the runner was lost), the steps that never started are skipped.
    /// No runner can report afterwards: its attempt is no longer current.
    /// </summary>
    private async Task SettleStepsAsync(string buildId, BuildStatus status, CancellationToken cancellationToken)
    {
        var interrupted = status == BuildStatus.TimedOut ? StepStatus.TimedOut : StepStatus.Cancelled;
        await db.BuildSteps.Where(s => s.BuildId == buildId && s.Status == StepStatus.Running)
            .ExecuteUpdateAsync(s => s.SetProperty(x => x.Status, interrupted), cancellationToken);
        await db.BuildSteps.Where(s => s.BuildId == buildId && s.Status == StepStatus.Pending)
            .ExecuteUpdateAsync(s => s.SetProperty(x => x.Status, StepStatus.Skipped), cancellationToken);
    }

    /// <summary>The row of a build while it runs at this attempt: the precondition of every change a runner or dispatcher makes.</summary>
    private IQueryable<BuildEntity> CurrentAttempt(string buildId, int attempt) =>
        db.Builds.Where(b => b.Id == buildId && b.Attempt == attempt && b.Status == BuildStatus.Running);

    /// <summary>
    /// What every terminal transition writes: the status, the reason, the end time, no phase and no lease. Lease
    /// columns mean something only while a build runs, so no finished build keeps them.
    /// </summary>
    private static UpdateSettersBuilder<BuildEntity> Terminal(UpdateSettersBuilder<BuildEntity> setters, BuildStatus status, string? error, DateTimeOffset now)
    {
        if (!status.IsTerminal())
        {
            throw new ArgumentOutOfRangeException(nameof(status), status, "Not a terminal status.");
        }

        return ClearLease(setters
            .SetProperty(b => b.Status, status)
            .SetProperty(b => b.Phase, BuildPhase.None)
            .SetProperty(b => b.Error, error)
            .SetProperty(b => b.FinishedAt, now));
    }

    private static UpdateSettersBuilder<BuildEntity> ClearLease(UpdateSettersBuilder<BuildEntity> setters) => setters
        .SetProperty(b => b.LeaseOwner, (string?)null)
        .SetProperty(b => b.LeaseExpiresAt, (DateTimeOffset?)null);

    /// <summary>
    /// The row of a queued build, as the claim's compare-and-set sees it. SQLite has one writer at a time, so the claim
    /// cannot interleave with another. On PostgreSQL a row another dispatcher is claiming right now is skipped (SKIP
    /// LOCKED) instead of waited for: that dispatcher wins it, this one moves on to the next build.
    /// </summary>
    private IQueryable<BuildEntity> QueuedRow(string buildId)
    {
        var queued = BuildStatus.Queued.ToString();
        return db.Database.IsNpgsql()
            ? db.Builds.FromSql($"""SELECT * FROM builds WHERE "Id" = {buildId} AND "Status" = {queued} FOR UPDATE SKIP LOCKED""")
            : db.Builds.Where(b => b.Id == buildId && b.Status == BuildStatus.Queued);
    }
}

/// <summary>What a runner reports at the end of its attempt, as the build row records it.</summary>
public sealed record BuildCompletion(
    BuildStatus Status,
    int? ExitCode,
    string? Error,
    string? Toolchain,
    string? Command,
    string Version,
    double? StageSeconds,
    double? BuildSeconds,
    double? PublishSeconds);
