using System.Globalization;
using AutoBuilder.Core.Protocol;
using AutoBuilder.Runner.Caching;
using AutoBuilder.Runner.Configuration;
using AutoBuilder.Runner.Processes;
using AutoBuilder.Runner.Publishing;
using AutoBuilder.Runner.Staging;
using AutoBuilder.Runner.Tooling;
using AutoBuilder.Runner.Versioning;

namespace AutoBuilder.Runner;

/// <summary>Staging, on the privileged side before the build's command starts: the runner's own fresh folders, the source, the plan, the cache restore and the hand-over to the build user.</summary>
public sealed partial class BuildRunner
{
    private sealed partial class Attempt
    {
        private async Task<Prepared> StageAsync(CancellationToken cancellationToken)
        {
            if (spec.Sandbox.Refusal is { } refusal)
            {
                throw new BuildFailureException(refusal); // the server's decision (SandboxCheck.For): before anything is staged.
            }

            var sourceDirectory = Path.Combine(_workspace, "src"); // made fresh, like home, tmp and cache (AttemptWorkspace)

            // Next to, never inside, the folder it is extracted into.
            var zipPath = Path.Combine(_workspace, "source.zip");
            ExtractionResult extracted;
            try
            {
                await Api.DownloadAsync(spec.SourceUrl, zipPath, cancellationToken).ConfigureAwait(false);
                extracted = SafeZipExtractor.Extract(zipPath, sourceDirectory);
            }
            finally
            {
                File.Delete(zipPath);
            }

            await LogAsync(string.Create(CultureInfo.InvariantCulture,
                $"staging: {extracted.FileCount:N0} files, {OutputPublisher.Size(extracted.TotalBytes)}"), cancellationToken).ConfigureAwait(false);
            if (extracted.SourceRoot != sourceDirectory)
            {
                await LogAsync($"staging: using the archive's single folder '{Path.GetFileName(extracted.SourceRoot)}' as the source root", cancellationToken).ConfigureAwait(false);
            }

            var config = BuildConfigLoader.LoadFrom(extracted.SourceRoot);
            var plan = AttemptPlan.Create(spec, config, RunnerFacts.OfThisMachine(spec.Sandbox));
            var user = plan.RunAs;
            var mode = plan.CacheMode;
            var cache = mode == CacheMode.Shared ? await PrepareCacheAsync(user, cancellationToken).ConfigureAwait(false) : KeyedCache.PrivateFolder(_workspace);
            Directory.CreateDirectory(cache);
            var home = Path.Combine(_workspace, "home");
            var temp = Path.Combine(_workspace, "tmp");
            var toolchain = ToolchainResolver.Resolve(new ToolchainRequest(extracted.SourceRoot, config, spec.Toolchain, spec.Command, spec.Toolchains, cache, home));
            _toolchain = toolchain.Name;
            _command = toolchain.Command;
            await LogAsync($"toolchain {toolchain.Name}: {toolchain.Command}", cancellationToken).ConfigureAwait(false);
            await RestoreCacheAsync(plan, KeyedCache.Plan(extracted.SourceRoot, toolchain.Name, config.Cache, cache, home, _workspace, spec.Caches.MaxArchiveBytes), cancellationToken).ConfigureAwait(false);

            var version = VersionDetector.Detect(extracted.SourceRoot, config.Version, spec.Number);
            if (version.Warning is not null)
            {
                await LogAsync(version.Warning, cancellationToken).ConfigureAwait(false);
            }

            _version = version.Version;
            await LogAsync($"version {version.Version} (from {version.Source})", cancellationToken).ConfigureAwait(false);

            if (plan.TimeoutCapped is not null)
            {
                await LogAsync(plan.TimeoutCapped, cancellationToken).ConfigureAwait(false);
            }

            await LogAsync($"timeout {BuildProcess.Describe(plan.Timeout)}", cancellationToken).ConfigureAwait(false);

            Directory.CreateDirectory(home);
            Directory.CreateDirectory(temp);
            foreach (var (relative, content) in toolchain.HomeFiles)
            {
                // Owner-only: they may hold the operator's registry credentials (~/.npmrc).
                var path = Path.Combine(home, relative);
                var file = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
                if (OperatingSystem.IsWindows())
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                }
                else
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                    file.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
                }

                var writer = new StreamWriter(path, file);
                await using (writer.ConfigureAwait(false))
                {
                    await writer.WriteAsync(content.AsMemory(), cancellationToken).ConfigureAwait(false);
                }
            }

            if (user is not null && !OperatingSystem.IsWindows())
            {
                HandOver(user, cache.StartsWith(_workspace + "/", StringComparison.Ordinal) ? [sourceDirectory, home, temp, cache] : [sourceDirectory, home, temp]);
            }

            var environment = BuildEnvironment.Create(new BuildEnvironmentRequest(home, temp, spec.Number, spec.ProjectId, toolchain.Environment, config.Env)
            {
                CacheDirectory = cache,
                Proxy = new ProxySettings(spec.Sandbox.HttpProxy, spec.Sandbox.HttpsProxy, spec.Sandbox.NoProxy),
            });
            if (toolchain.RequiredTool?.MissingFrom(environment["PATH"]) is { } missing)
            {
                throw new BuildFailureException(missing);
            }

            if (plan.Refusal is not null)
            {
                throw new BuildFailureException(plan.Refusal);
            }

            IReadOnlyList<string>? sandbox = null;
            IReadOnlyList<string>? toolSandbox = null;
            EgressNetwork? egress = null;
            if (plan.Sandbox is { } planned)
            {
                egress = planned.Network == SandboxNetwork.Egress ? new EgressNetwork(spec.Sandbox.AllowedNetworks) : null;
                var view = new SandboxRequest([sourceDirectory, home, temp, cache], extracted.SourceRoot, planned.SharesNetwork, temp);
                sandbox = [planned.Bubblewrap, .. Processes.Sandbox.Arguments(view)];
                toolSandbox = planned.SharesNetwork ? [planned.Bubblewrap, .. Processes.Sandbox.Arguments(view with { Network = false })] : sandbox;
            }

            await LogAsync(plan.SandboxDescription, cancellationToken).ConfigureAwait(false);
            if (plan.BuildUserDescription is { } buildUser)
            {
                await LogAsync(buildUser, cancellationToken).ConfigureAwait(false);
            }

            return new Prepared(plan, extracted.SourceRoot, toolchain, version.Version, environment) { Sandbox = sandbox, Egress = egress, ToolSandbox = toolSandbox };
        }

        private KeyedCache Cache => _keyed ??= new(Api, LogAsync, Time);

        /// <summary>
        /// Keyed mode: fills the private cache from the project's best archive before the build (half of staging's bound
        /// at most, so a slow store cannot time the build out) and remembers what to save after it.
        /// </summary>
        private async Task RestoreCacheAsync(AttemptPlan attempt, CachePlan? plan, CancellationToken cancellationToken)
        {
            var mode = attempt.CacheMode;
            if (attempt.CacheOff is { } off)
            {
                await LogAsync(off, cancellationToken).ConfigureAwait(false);
            }
            else if (mode == CacheMode.Keyed && plan is null)
            {
                await LogAsync($"cache: none for {_toolchain} (no dependency manifests to key it by)", cancellationToken).ConfigureAwait(false);
            }
            else if (mode == CacheMode.Keyed && plan is not null)
            {
                var layers = CacheLayers.For(runner._startInfo.CacheDirectory, spec.Caches.MaxLocalCopyBytes) is { } machine
                    ? new LayerRequest(machine, spec.ProjectId, attempt.RunAs)
                    : null;
                var exact = await Cache.RestoreAsync(plan, AttemptPlan.DefaultPhaseLimit(spec) / 2, cancellationToken, layers).ConfigureAwait(false);
                _cacheToSave = exact ? null : plan;
            }
        }

        /// <summary>
        /// The project's own folder of the shared cache if usable, else one inside the workspace: a cache problem never
        /// fails a build. Per project, so that no build can write into a cache another user's build reads.
        /// </summary>
        private async Task<string> PrepareCacheAsync(BuildUser? user, CancellationToken cancellationToken)
        {
            var local = Path.Combine(_workspace, "cache");
            var shared = runner._startInfo.CacheDirectory;
            if (shared is not null)
            {
                var project = Path.GetFullPath(Path.Combine(shared, ProjectCacheFolder, spec.ProjectId));
                try
                {
                    Directory.CreateDirectory(project);
                    if (user is null)
                    {
                        return project;
                    }

                    // bubblewrap binds the folder as the build user: every folder above it must let that user pass.
                    if (BuildUserAccess.Blocking(Path.GetDirectoryName(project)!, user) is { } blocked)
                    {
                        await LogAsync(string.Create(CultureInfo.InvariantCulture,
                            $"cache: the build user (uid {user.Uid}) cannot pass '{blocked}' (chmod o+x it to share the cache); using a private cache"), cancellationToken).ConfigureAwait(false);
                    }
                    else
                    {
                        if (FileKinds.Stat(project)?.Uid != user.Uid)
                        {
                            BuildUserAccess.GiveTo(project, user); // first use, or the build user changed.
                            if (!OperatingSystem.IsWindows())
                            {
                                File.SetUnixFileMode(project, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                            }
                        }

                        return project;
                    }
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    await LogAsync($"cache folder '{project}' is not usable ({ex.Message}); using a private cache", cancellationToken).ConfigureAwait(false);
                }
            }

            Directory.CreateDirectory(local);
            return local;
        }

        /// <summary>Gives the build's own folders to the build user, who may only pass through the workspace to reach them.</summary>
        [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
        private void HandOver(BuildUser user, IReadOnlyList<string> folders)
        {
            _folders!.HandOver(user, folders, _keyed?.Mounted);
        }
    }
}
