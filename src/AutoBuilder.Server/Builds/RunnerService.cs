using System.Globalization;
using AutoBuilder.Core;
using AutoBuilder.Core.Builds;
using AutoBuilder.Core.Protocol;
using AutoBuilder.Core.Storage;
using AutoBuilder.Server.Executors.Local;
using AutoBuilder.Server.Hosting;
using AutoBuilder.Server.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AutoBuilder.Server.Builds;

/// <summary>
/// The server side of the runner protocol. Every call names one build attempt; a call for an attempt that is
/// no longer current (retried, cancelled, finished) is refused with 409 and changes nothing.
/// </summary>
public sealed class RunnerService(
    AutoBuilderDbContext db,
    IBlobStore store,
    BlobLayout layout,
    ArtifactPromoter promoter,
    BuildSignals signals,
    AutoBuilderMetrics metrics,
    IOptions<BuildOptions> buildOptions,
    IOptions<ToolchainOptions> toolchainOptions,
    IOptions<CacheOptions> cacheOptions,
    SandboxCheck sandbox,
    TimeProvider time)
{
    private TimeSpan RunnerLinkLifetime => buildOptions.Value.RunnerLinkLifetime;

    public async Task<RunnerSpec> GetSpecAsync(string buildId, int attempt, CancellationToken cancellationToken = default)
    {
        var build = await RequireCurrentAsync(buildId, attempt, cancellationToken);
        var options = buildOptions.Value;
        var toolchains = toolchainOptions.Value;
        var maven = toolchains.Maven;
        var source = await store.GetSignedUrlAsync(layout.Source(build.ProjectId, build.SourceId), BlobPermission.Read, RunnerLinkLifetime, cancellationToken);
        var log = await store.GetSignedUrlAsync(layout.BuildLog(build.ProjectId, build.Number), BlobPermission.Append, RunnerLinkLifetime, cancellationToken);
        var ownerIsAdmin = await db.Users.AsNoTracking().AnyAsync(u => u.Name == build.OwnerName && u.IsAdmin, cancellationToken);
        return new RunnerSpec
        {
            BuildId = build.Id,
            ProjectId = build.ProjectId,
            Number = build.Number,
            Attempt = build.Attempt,
            SourceUrl = source.Url,
            LogAppendUrl = log.Url,
            BlobProtocol = store.UrlProtocol,
            Toolchain = build.RequestedToolchain,
            Command = build.RequestedCommand,
            TimeoutSeconds = (int)options.DefaultTimeout.TotalSeconds,
            MaxTimeoutSeconds = (int)options.MaxTimeout.TotalSeconds,
            Toolchains = new ToolchainSettings
            {
                MavenSettingsFile = maven.SettingsFile,
                MavenOffline = maven.Offline,
                NpmRegistry = toolchains.Npm.Registry,
                NpmAuthToken = toolchains.Npm.AuthToken,
                NpmVerifyCorepackSignatures = toolchains.Npm.VerifyCorepackSignatures,
                NuGetConfigFile = toolchains.NuGet.ConfigFile,
                GradleInitScript = toolchains.Gradle.InitScript,
                GradleMirrorUrl = toolchains.Gradle.MirrorUrl,
                GradleMirrorUsername = toolchains.Gradle.MirrorUsername,
                GradleMirrorPassword = toolchains.Gradle.MirrorPassword,
            },
            Sandbox = sandbox.For(ownerIsAdmin),
            MaxLogBytes = options.MaxLogBytes,
            MaxWorkspaceBytes = options.MaxWorkspaceBytes,
            Caches = cacheOptions.Value.Settings,
        };
    }

    public async Task RecordPhaseAsync(string buildId, int attempt, BuildPhase phase, CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        if (!await new BuildTransitions(db).TryRecordPhaseAsync(buildId, attempt, phase, now, cancellationToken))
        {
            await RequireCurrentAsync(buildId, attempt, cancellationToken);
        }

        signals.NotifyBuildChanged(buildId);
    }

    /// <summary>Replaces the attempt's steps with the runner's latest report (and a previous attempt's); 409 for a stale attempt.</summary>
    public async Task RecordStepsAsync(string buildId, int attempt, IReadOnlyList<BuildStep> steps, CancellationToken cancellationToken = default)
    {
        if (BuildSteps.Invalid(steps) is { } invalid)
        {
            throw new InvalidInputException("Invalid steps", invalid);
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        if (!await new BuildTransitions(db).TryReplaceStepsAsync(buildId, attempt, steps, time.GetUtcNow(), cancellationToken))
        {
            await RequireCurrentAsync(buildId, attempt, cancellationToken);
            throw StaleAttempt(buildId, attempt);
        }

        await transaction.CommitAsync(cancellationToken);
        signals.NotifyBuildChanged(buildId);
    }

    public async Task<SignedLink> GrantUploadAsync(string buildId, int attempt, UploadRequest request, CancellationToken cancellationToken = default)
    {
        var build = await RequireCurrentAsync(buildId, attempt, cancellationToken);
        var blob = request.Kind switch
        {
            UploadKind.Result => layout.BuildResult(build.ProjectId, build.Number),
            UploadKind.Manifest => layout.BuildManifest(build.ProjectId, build.Number),
            UploadKind.Artifact when Ids.IsValidFileName(request.Name) => layout.BuildArtifact(build.ProjectId, build.Number, request.Name!),
            UploadKind.Artifact => throw new InvalidInputException("Invalid artifact name",
                $"'{Printable.Of(request.Name)}' is not a valid artifact name: one file name of letters, digits, '.', '_', '+', '-'."),
            _ => throw new InvalidInputException("Unknown upload kind"),
        };
        var signed = await store.GetSignedUrlAsync(blob, BlobPermission.Write, RunnerLinkLifetime, cancellationToken);
        return new SignedLink(signed.Url, signed.ExpiresAt);
    }

    public async Task CompleteAsync(string buildId, int attempt, CompleteRequest request, CancellationToken cancellationToken = default)
    {
        var build = await RequireCurrentAsync(buildId, attempt, cancellationToken);
        var version = request.Version ?? build.Number.ToString(CultureInfo.InvariantCulture);
        if (!Ids.IsValidVersion(version))
        {
            throw new InvalidInputException("Invalid version", $"'{Printable.Of(version)}' is not a valid artifact version.");
        }

        if (request.Artifacts.FirstOrDefault(a => !Ids.IsValidFileName(a.Path)) is { } bad)
        {
            throw new InvalidInputException("Invalid artifact name", $"'{Printable.Of(bad.Path)}' is not a valid artifact file name.");
        }

        if (BuildSteps.Invalid(request.Steps) is { } invalidSteps)
        {
            throw new InvalidInputException("Invalid steps", invalidSteps);
        }

        var status = request.Outcome.ToStatus();
        var error = request.Error;
        IReadOnlyList<ArtifactEntity> artifacts = [];
        if (status == BuildStatus.Succeeded)
        {
            try
            {
                artifacts = await promoter.PromoteAsync(build, version, request.Artifacts, cancellationToken);
            }
            catch (PromotionException e)
            {
                status = BuildStatus.Failed;
                error = $"publishing failed: {e.Message}";
                await AppendLogLineAsync(build, $"[autobuilder] {error}", cancellationToken);
            }
        }

        var now = time.GetUtcNow();
        var durations = request.Durations;
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var completion = new BuildCompletion(status, request.ExitCode, error, request.Toolchain, request.Command, version, durations.Stage, durations.Build, durations.Publish);
        var transitions = new BuildTransitions(db);
        // The final steps first: replacing them is refused, like the completion, once the attempt is not current. An
        // empty list (staging failed, or an older runner) leaves what was reported.
        var changed = (request.Steps.Count == 0 || await transitions.TryReplaceStepsAsync(buildId, attempt, request.Steps, now, cancellationToken))
            && await transitions.TryCompleteAsync(buildId, attempt, completion, now, cancellationToken);
        if (!changed)
        {
            await RequireCurrentAsync(buildId, attempt, cancellationToken);
            throw StaleAttempt(buildId, attempt);
        }

        db.Artifacts.AddRange(artifacts);
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);

        metrics.BuildFinished(status);
        metrics.PhaseMeasured("stage", durations.Stage);
        metrics.PhaseMeasured("build", durations.Build);
        metrics.PhaseMeasured("publish", durations.Publish);
        signals.NotifyBuildChanged(buildId);
    }

    /// <summary>Appends a line of AutoBuilder's own to a build's log (retries, lost runners, refused promotions).</summary>
    public Task AppendLogLineAsync(BuildEntity build, string line, CancellationToken cancellationToken = default) =>
        BuildLogWriter.AppendLineAsync(store, layout.BuildLog(build.ProjectId, build.Number), line, cancellationToken);

    /// <summary>The build while this attempt is its current one; else 404 (unknown) or 409 (stale attempt).</summary>
    public async Task<BuildEntity> RequireCurrentAsync(string buildId, int attempt, CancellationToken cancellationToken)
    {
        var build = await db.Builds.AsNoTracking().FirstOrDefaultAsync(b => b.Id == buildId, cancellationToken)
            ?? throw new NotFoundException("Build not found", $"There is no build '{buildId}'.");
        return build.Status == BuildStatus.Running && build.Attempt == attempt ? build : throw StaleAttempt(buildId, attempt, build);
    }

    private static ConflictException StaleAttempt(string buildId, int attempt, BuildEntity? build = null) =>
        new("Attempt no longer current",
            build is null
                ? $"Attempt {attempt} of build {buildId} is no longer current."
                : $"Attempt {attempt} of build {buildId} is no longer current: the build is {build.Status.ToWire()} at attempt {build.Attempt}.");
}
