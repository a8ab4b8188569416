using System.Collections.Concurrent;
using AutoBuilder.Core.Builds;
using AutoBuilder.Core.Execution;
using AutoBuilder.Core.Storage;
using AutoBuilder.Server.Auth;
using AutoBuilder.Server.Builds;
using AutoBuilder.Server.Hosting;
using AutoBuilder.Server.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AutoBuilder.Server.Dispatching;

/// <summary>
/// Claims queued builds (fair across users, under the global and per-user limits), starts their runners, holds
/// a lease on each, and resolves every way a build can end: runner completed, cancelled, timed out, runner lost.
/// Every state change is a compare-and-set in the metadata store, so several dispatchers can share one queue.
/// </summary>
public sealed class Dispatcher(
    IServiceScopeFactory scopes,
    IBuildExecutor executor,
    BuildSignals signals,
    BuildTokenService tokens,
    IBlobStore store,
    BlobLayout layout,
    ServerAddress address,
    AutoBuilderMetrics metrics,
    IOptions<DispatcherOptions> dispatcherOptions,
    IOptions<BuildOptions> buildOptions,
    TimeProvider time,
    ILogger<Dispatcher> logger) : BackgroundService
{
    private readonly ConcurrentDictionary<string, Tracked> _running = new();
    private readonly DispatcherOptions _options = dispatcherOptions.Value;
    private readonly FairQueueOrder _fairOrder = new(dispatcherOptions.Value.MaxConcurrentBuildsPerUser);
    private readonly AttemptOutcomePolicy _outcomes = new(dispatcherOptions.Value.MaxAttempts);
    private DateTimeOffset _nextLeaseRenewal;
    private DateTimeOffset _nextRecovery;

    public string InstanceId { get; } = dispatcherOptions.Value.InstanceId ?? $"{Environment.MachineName}-{Environment.ProcessId}";

    /// <summary>Builds this dispatcher runs now.</summary>
    public int RunningCount => _running.Count;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        logger.LogInformation("Dispatcher {Instance} started: at most {Max} builds at once", InstanceId, _options.MaxConcurrentBuilds);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await TickAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is DbUpdateException or InvalidOperationException or IOException or System.Data.Common.DbException or TimeoutException)
            {
                // The store may be briefly unavailable: log and try again on the next tick.
                logger.LogWarning(e, "Dispatch tick failed");
            }

            try
            {
                await signals.WaitForDispatchAsync(_options.PollInterval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        foreach (var tracked in _running.Values)
        {
            if (executor.AttemptsOutliveDispatcher)
            {
                // The build runs on in its Job; the next dispatcher adopts it when this one's lease lapses.
                tracked.StopReason = AttemptStop.Detached;
                await tracked.Execution.DisposeAsync();
            }
            else
            {
                // A graceful shutdown hands running builds back to the queue instead of failing them.
                tracked.StopReason = AttemptStop.Shutdown;
                await tracked.Execution.StopAsync("server shutting down", cancellationToken);
            }
        }

        await Task.WhenAll(_running.Values.Select(t => t.Monitor));
    }

    private async Task TickAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AutoBuilderDbContext>();

        await ReconcileAsync(db, now, cancellationToken);
        if (now >= _nextLeaseRenewal)
        {
            await RenewLeasesAsync(db, now, cancellationToken);
            _nextLeaseRenewal = now + _options.LeaseDuration / 3;
        }

        if (now >= _nextRecovery)
        {
            await RecoverAsync(db, now, cancellationToken);
            _nextRecovery = now + _options.LeaseDuration / 2;
        }

        await ClaimAsync(db, now, cancellationToken);
        metrics.SetRunning(_running.Count);
    }

    /// <summary>Stops runners whose build was cancelled (or finished elsewhere) and those past their deadline.</summary>
    private async Task ReconcileAsync(AutoBuilderDbContext db, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (_running.IsEmpty)
        {
            return;
        }

        var ids = _running.Keys.ToList();
        var states = await db.Builds.AsNoTracking().Where(b => ids.Contains(b.Id))
            .Select(b => new { b.Id, b.Status, b.Attempt }).ToListAsync(cancellationToken);
        foreach (var state in states)
        {
            if (!_running.TryGetValue(state.Id, out var tracked) || tracked.StopReason is not null)
            {
                continue;
            }

            var check = AttemptOutcomePolicy.Check(state.Status, state.Attempt, tracked.Attempt, tracked.Deadline, tracked.FinishedAt, now);
            switch (check)
            {
                case AttemptCheck.StopCancelled:
                    tracked.StopReason = AttemptStop.Cancelled;
                    await tracked.Execution.StopAsync("build cancelled", cancellationToken);
                    break;
                case AttemptCheck.AwaitExit:
                    tracked.FinishedAt ??= now;
                    break;
                case AttemptCheck.StopLingering:
                    tracked.FinishedAt ??= now;
                    tracked.StopReason = AttemptStop.Lingering;
                    await tracked.Execution.StopAsync("runner did not exit after completing", cancellationToken);
                    break;
                case AttemptCheck.StopTimedOut:
                    tracked.StopReason = AttemptStop.TimedOut;
                    await tracked.Execution.StopAsync("build timed out", cancellationToken);
                    break;
            }
        }
    }

    private async Task RenewLeasesAsync(AutoBuilderDbContext db, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var ids = _running.Keys.ToList();
        if (ids.Count == 0)
        {
            return;
        }

        await new BuildTransitions(db).RenewLeasesAsync(ids, InstanceId, now + _options.LeaseDuration, cancellationToken);
    }

    /// <summary>
    /// Running builds nobody follows any more — their lease expired, or they carry this instance's name from
    /// before a restart — are adopted when the executor can still find them, else retried or failed.
    /// </summary>
    private async Task RecoverAsync(AutoBuilderDbContext db, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var orphans = await db.Builds.AsNoTracking()
            .Where(b => b.Status == BuildStatus.Running && (b.LeaseExpiresAt < now || b.LeaseOwner == InstanceId))
            .Select(b => new { b.Id, b.ProjectId, b.Number, b.Attempt, b.RequestedToolchain })
            .ToListAsync(cancellationToken);
        foreach (var orphan in orphans.Where(o => !_running.ContainsKey(o.Id)))
        {
            if (!await new BuildTransitions(db).TryTakeOrphanAsync(orphan.Id, orphan.Attempt, InstanceId, now, _options.LeaseDuration, cancellationToken))
            {
                continue;
            }

            var launch = Launch(orphan.Id, orphan.ProjectId, orphan.Number, orphan.Attempt, orphan.RequestedToolchain);
            var execution = await executor.TryAdoptAsync(launch, cancellationToken);
            if (execution is not null)
            {
                logger.LogInformation("Adopted build {BuildId} attempt {Attempt}", orphan.Id, orphan.Attempt);
                Track(launch, execution, now);
            }
            else
            {
                var outcome = _outcomes.OnInfrastructureFailure(orphan.Attempt, "the runner was lost (its dispatcher stopped while the build ran)");
                await SettleAsync(db, orphan.Id, orphan.ProjectId, orphan.Number, orphan.Attempt, outcome, cancellationToken);
            }
        }
    }

    private async Task ClaimAsync(AutoBuilderDbContext db, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var free = _options.MaxConcurrentBuilds - _running.Count;
        var queued = await db.Builds.AsNoTracking().Where(b => b.Status == BuildStatus.Queued)
            .OrderBy(b => b.QueuedAt).Take(500)
            .Select(b => new { b.Id, b.OwnerName, b.ProjectId, b.Number, b.QueuedAt, b.RequestedToolchain })
            .ToListAsync(cancellationToken);
        metrics.SetQueueDepth(queued.Count);
        if (free <= 0 || queued.Count == 0)
        {
            return;
        }

        var runningPerOwner = await db.Builds.AsNoTracking().Where(b => b.Status == BuildStatus.Running)
            .GroupBy(b => b.OwnerName).Select(g => new { Owner = g.Key, Count = g.Count() })
            .ToDictionaryAsync(g => g.Owner, g => g.Count, cancellationToken);

        foreach (var candidate in _fairOrder.Order(queued, b => b.OwnerName, runningPerOwner))
        {
            if (free == 0)
            {
                break;
            }

            if (!_fairOrder.HasRoomFor(candidate.OwnerName, runningPerOwner))
            {
                continue;
            }

            var claimed = await new BuildTransitions(db).TryClaimAsync(candidate.Id, InstanceId, now, _options.LeaseDuration, candidate.QueuedAt, cancellationToken);
            if (claimed is not { } attempt)
            {
                continue; // another dispatcher (or a cancel) was first
            }

            free--;
            _fairOrder.Served(candidate.OwnerName, now);
            runningPerOwner[candidate.OwnerName] = runningPerOwner.GetValueOrDefault(candidate.OwnerName) + 1;
            metrics.PhaseMeasured("queue", (now - candidate.QueuedAt).TotalSeconds);
            await StartAsync(db, Launch(candidate.Id, candidate.ProjectId, candidate.Number, attempt, candidate.RequestedToolchain), now, cancellationToken);
        }
    }

    private async Task StartAsync(AutoBuilderDbContext db, BuildLaunch launch, DateTimeOffset now, CancellationToken cancellationToken)
    {
        try
        {
            var execution = await executor.StartAsync(launch, cancellationToken);
            Track(launch, execution, now);
            logger.LogInformation("Started build {BuildId} ({Project} #{Number}) attempt {Attempt}", launch.BuildId, launch.ProjectId, launch.Number, launch.Attempt);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogError(e, "Could not start the runner of build {BuildId}", launch.BuildId);
            var outcome = _outcomes.OnInfrastructureFailure(launch.Attempt, $"the runner could not be started: {e.Message}");
            await SettleAsync(db, launch.BuildId, launch.ProjectId, launch.Number, launch.Attempt, outcome, cancellationToken);
        }
    }

    private void Track(BuildLaunch launch, IBuildExecution execution, DateTimeOffset now)
    {
        var tracked = new Tracked(launch.BuildId, launch.ProjectId, launch.Number, launch.Attempt, execution, now + launch.Timeout);
        _running[launch.BuildId] = tracked;
        tracked.Monitor = MonitorAsync(tracked);
    }

    private async Task MonitorAsync(Tracked tracked)
    {
        try
        {
            var exit = await tracked.Execution.Completion;
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<AutoBuilderDbContext>();
            await OnExitedAsync(db, tracked, exit);
        }
        catch (Exception e)
        {
            logger.LogError(e, "Failed to settle build {BuildId} after its runner exited", tracked.BuildId);
        }
        finally
        {
            // Only this attempt's entry: while a slow settle (e.g. a log append to unreachable storage) ran, the build
            // may have been requeued and claimed again, and the next attempt's entry must stay.
            _running.TryRemove(KeyValuePair.Create(tracked.BuildId, tracked));
            await tracked.Execution.DisposeAsync();
            metrics.SetRunning(_running.Count);
            signals.NotifyDispatcher();
        }
    }

    /// <summary>The runner is gone. If it completed the build, nothing is left to do; otherwise decide the build's fate.</summary>
    private async Task OnExitedAsync(AutoBuilderDbContext db, Tracked tracked, ExecutionExit exit)
    {
        var build = await db.Builds.AsNoTracking().FirstOrDefaultAsync(b => b.Id == tracked.BuildId);
        if (build is null || build.Status != BuildStatus.Running || build.Attempt != tracked.Attempt)
        {
            return;
        }

        var outcome = _outcomes.OnExit(tracked.Attempt, tracked.StopReason, exit);
        await SettleAsync(db, tracked.BuildId, tracked.ProjectId, tracked.Number, tracked.Attempt, outcome, CancellationToken.None);
    }

    /// <summary>Carries out the policy's decision about an attempt that ended without completing its build.</summary>
    private async Task SettleAsync(AutoBuilderDbContext db, string buildId, string projectId, int number, int attempt, AttemptOutcome outcome, CancellationToken cancellationToken)
    {
        var transitions = new BuildTransitions(db);
        switch (outcome)
        {
            case AttemptOutcome.LeftRunning:
                return;
            case AttemptOutcome.Requeued requeued:
                if (await transitions.TryRequeueAsync(buildId, attempt, requeued.Note, cancellationToken) && requeued.IsRetry)
                {
                    metrics.BuildRetried();
                    await TryLogAsync(projectId, number, $"[autobuilder] {requeued.Note}");
                }

                break;
            case AttemptOutcome.Ended ended:
                if (await transitions.TryFinishAsync(buildId, attempt, ended.Status, ended.Error, time.GetUtcNow(), cancellationToken))
                {
                    metrics.BuildFinished(ended.Status);
                    await TryLogAsync(projectId, number, ended.LogLine);
                }

                break;
        }

        signals.NotifyBuildChanged(buildId);
    }

    private async Task TryLogAsync(string projectId, int number, string line)
    {
        try
        {
            await BuildLogWriter.AppendLineAsync(store, layout.BuildLog(projectId, number), line);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning(e, "Could not write to the log of {Project} #{Number}", projectId, number);
        }
    }

    private BuildLaunch Launch(string buildId, string projectId, int number, int attempt, string? toolchain) => new()
    {
        Toolchain = toolchain,
        BuildId = buildId,
        ProjectId = projectId,
        Number = number,
        Attempt = attempt,
        Token = tokens.Issue(buildId, attempt),
        // A process that serves the API too hands its runners its own address; a dispatcher-only one, the configured API.
        ApiUrl = _options.ApiUrl ?? address.InternalUrl,
        Timeout = buildOptions.Value.MaxTimeout + _options.TimeoutGrace,
    };

    private sealed class Tracked(string buildId, string projectId, int number, int attempt, IBuildExecution execution, DateTimeOffset deadline)
    {
        public string BuildId { get; } = buildId;
        public string ProjectId { get; } = projectId;
        public int Number { get; } = number;
        public int Attempt { get; } = attempt;
        public IBuildExecution Execution { get; } = execution;
        public DateTimeOffset Deadline { get; } = deadline;
        public AttemptStop? StopReason { get; set; }
        public DateTimeOffset? FinishedAt { get; set; }
        public Task Monitor { get; set; } = Task.CompletedTask;
    }
}
