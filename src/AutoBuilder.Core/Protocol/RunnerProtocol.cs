using System.Text.Json.Serialization;
using AutoBuilder.Core.Builds;
using AutoBuilder.Core.Storage;

namespace AutoBuilder.Core.Protocol;

// The runner protocol (docs/ARCHITECTURE.md, "Runner protocol"). Control goes runner ⇄ API under a build token;
// data goes runner ⇄ storage through signed single-blob URLs.

/// <summary>Routes of the runner protocol, relative to the API's address.</summary>
public static class RunnerRoutes
{
    public static string Spec(string buildId) => $"api/v1/runner/builds/{buildId}/spec";
    public static string Phase(string buildId) => $"api/v1/runner/builds/{buildId}/phase";
    public static string Uploads(string buildId) => $"api/v1/runner/builds/{buildId}/uploads";
    public static string Complete(string buildId) => $"api/v1/runner/builds/{buildId}/complete";
    public static string Steps(string buildId) => $"api/v1/runner/builds/{buildId}/steps";
    public static string CacheRestore(string buildId) => $"api/v1/runner/builds/{buildId}/caches/restore";
    public static string CacheSave(string buildId) => $"api/v1/runner/builds/{buildId}/caches/save";
    public static string CacheCommit(string buildId) => $"api/v1/runner/builds/{buildId}/caches/commit";
}

/// <summary>GET .../spec: everything a runner needs to run one build attempt.</summary>
public sealed record RunnerSpec
{
    public required string BuildId { get; init; }
    public required string ProjectId { get; init; }
    public required int Number { get; init; }
    public required int Attempt { get; init; }
    /// <summary>Signed read URL of the pinned source ZIP.</summary>
    public required Uri SourceUrl { get; init; }
    /// <summary>Signed append URL of the build log.</summary>
    public required Uri LogAppendUrl { get; init; }
    /// <summary>How to speak to every signed URL of this build (source, log, uploads); absent means the filesystem store's.</summary>
    public BlobUrlProtocol BlobProtocol { get; init; } = BlobUrlProtocol.FileSystem;
    /// <summary>Toolchain requested with the build; null means detect (autobuilder.yml, then the files).</summary>
    public string? Toolchain { get; init; }
    /// <summary>Command requested with the build; null means autobuilder.yml's, else the toolchain's default.</summary>
    public string? Command { get; init; }
    /// <summary>Timeout when autobuilder.yml sets none; autobuilder.yml may not exceed <see cref="MaxTimeoutSeconds"/>.</summary>
    public required int TimeoutSeconds { get; init; }
    public required int MaxTimeoutSeconds { get; init; }
    public ToolchainSettings Toolchains { get; init; } = new();
    /// <summary>Whether the build command runs sandboxed (the server's Sandbox:* decision).</summary>
    public SandboxSettings Sandbox { get; init; } = new();
    /// <summary>Builds:MaxLogBytes — the most of the build's own output the log keeps; the rest is dropped.</summary>
    public long MaxLogBytes { get; init; } = BuildLimits.DefaultMaxLogBytes;
    /// <summary>Builds:MaxWorkspaceBytes — the most the workspace (source, HOME, TMPDIR) may hold while the command runs.</summary>
    public long MaxWorkspaceBytes { get; init; } = BuildLimits.DefaultMaxWorkspaceBytes;
    /// <summary>How the build's dependency caches work (Caches:*).</summary>
    public CacheSettings Caches { get; init; } = new();
}

/// <summary>Where a build's dependency caches live (Caches:Mode).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<CacheMode>))]
public enum CacheMode
{
    /// <summary>Keyed archives in the blob store, restored onto the build's local disk and saved after a success.</summary>
    [JsonStringEnumMemberName("keyed")] Keyed,
    /// <summary>One folder per project on the runner's cache volume, written in place by every build of the project.</summary>
    [JsonStringEnumMemberName("shared")] Shared,
    /// <summary>No cache: every build starts cold.</summary>
    [JsonStringEnumMemberName("off")] Off,
}

/// <summary>The server's cache decision for a build (Caches:*).</summary>
public sealed record CacheSettings
{
    public CacheMode Mode { get; init; } = CacheMode.Keyed;
    /// <summary>The largest archive a build saves (Caches:MaxArchiveBytes); a larger cache is not saved, and the log says so.</summary>
    public long MaxArchiveBytes { get; init; } = 4L * 1024 * 1024 * 1024;
    /// <summary>What a machine's read-only copies of exact hits may hold together (Caches:MaxLocalCopyBytes).</summary>
    public long MaxLocalCopyBytes { get; init; } = 20L * 1024 * 1024 * 1024;
}

/// <summary>
/// POST .../caches/restore: the best archive of the build's project for <see cref="Key"/>: the exact key, else the newest
/// entry whose key starts with the first <see cref="RestoreKeys"/> prefix that has one. 200 <see cref="CacheHit"/>, 204 none.
/// </summary>
public sealed record CacheRestoreRequest(string Toolchain, string Key, IReadOnlyList<string> RestoreKeys);

/// <summary>An archive to restore, with a signed read URL of it.</summary>
public sealed record CacheHit
{
    public required string CacheId { get; init; }
    public required string Key { get; init; }
    /// <summary>True when <see cref="Key"/> is the one asked for: nothing changed, so nothing is saved after the build.</summary>
    public required bool Exact { get; init; }
    public required long Size { get; init; }
    public required string Sha256 { get; init; }
    public required Uri Url { get; init; }
    public required DateTimeOffset ExpiresAt { get; init; }
}

/// <summary>
/// POST .../caches/save: asks for a create-only write URL of the key's archive. <see cref="Unusable"/> names an entry of
/// the project whose archive this build's restore found corrupt (or not the registered one): it is deleted first, so a
/// broken archive is replaced by the next successful build instead of answering "saved already" for ever.
/// </summary>
public sealed record CacheSaveRequest(string Toolchain, string Key, string? Unusable = null);

/// <summary>
/// The answer to <see cref="CacheSaveRequest"/>: a create-only URL, or none with the reason (the key is saved already).
/// A write through the URL onto an archive that exists is refused (409 or 412): another build saved it first.
/// </summary>
public sealed record CacheSaveGrant
{
    public Uri? Url { get; init; }
    public DateTimeOffset? ExpiresAt { get; init; }
    public string? Reason { get; init; }
}

/// <summary>POST .../caches/commit: makes the archive just created visible to restores. 204.</summary>
public sealed record CacheCommitRequest(string Toolchain, string Key, long Size, string Sha256);

/// <summary>Defaults of the build limits (Builds:*), shared by the server's options and the spec.</summary>
public static class BuildLimits
{
    public const long DefaultMaxLogBytes = 64L * 1024 * 1024;
    public const long DefaultMaxWorkspaceBytes = 10L * 1024 * 1024 * 1024;

    /// <summary>
    /// What a log may grow to per attempt on top of <see cref="RunnerSpec.MaxLogBytes"/>: AutoBuilder's own lines,
    /// which are not counted against the limit.
    /// </summary>
    public const long OwnLinesAllowance = 4L * 1024 * 1024;
}

/// <summary>What network a sandboxed build has.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<SandboxNetwork>))]
public enum SandboxNetwork
{
    /// <summary>Its own loopback only.</summary>
    [JsonStringEnumMemberName("none")] None,
    /// <summary>The internet through a user-mode network stack (slirp4netns) in its own namespace; not the host's
    /// loopback, the host's addresses, link-local or private networks (unless allowed).</summary>
    [JsonStringEnumMemberName("egress")] Egress,
    /// <summary>The host's network, loopback services included: for trusted builds only.</summary>
    [JsonStringEnumMemberName("host")] Host,
}

/// <summary>The server's sandbox decision for the build command (Sandbox:*).</summary>
public sealed record SandboxSettings
{
    /// <summary>Run the command under bubblewrap; a runner that cannot do so fails the build.</summary>
    public bool Enabled { get; init; }
    /// <summary>
    /// The command's network (Sandbox:Network, as the server could provide it). Unsandboxed, only
    /// <see cref="SandboxNetwork.Host"/> gives it one; anything else leaves it its own loopback.
    /// </summary>
    public SandboxNetwork Network { get; init; } = SandboxNetwork.None;
    /// <summary>
    /// Set when this build must not run at all (Sandbox:Mode=Auto without a working bubblewrap, a non-admin's build): the
    /// runner fails the build with this reason before it stages anything, in one attempt.
    /// </summary>
    public string? Refusal { get; init; }
    /// <summary>
    /// Kubernetes: the build's pod is its sandbox (its own pid and network namespaces, the NetworkPolicy), so the runner
    /// starts the command in it directly. Otherwise an unsandboxed command gets pid and network namespaces of its own.
    /// </summary>
    public bool InPod { get; init; }
    /// <summary>With <see cref="SandboxNetwork.Egress"/>: private networks (CIDR) the build may reach all the same (Sandbox:AllowedNetworks).</summary>
    public IReadOnlyList<string> AllowedNetworks { get; init; } = [];
    /// <summary>HTTP_PROXY, HTTPS_PROXY and NO_PROXY for the build (Sandbox:HttpProxy, HttpsProxy, NoProxy); null when not set.</summary>
    public string? HttpProxy { get; init; }
    public string? HttpsProxy { get; init; }
    public string? NoProxy { get; init; }
    /// <summary>
    /// The unprivileged user a runner that runs as root starts the build command as (Sandbox:BuildUid/BuildGid), sandboxed
    /// or not; null keeps the runner's own user. A runner that is not root cannot change users and ignores it.
    /// </summary>
    public int? BuildUid { get; init; }
    public int? BuildGid { get; init; }
}

/// <summary>Operator settings for toolchains, from the server's configuration (Toolchains:*).</summary>
public sealed record ToolchainSettings
{
    /// <summary>Toolchains:Maven:SettingsFile — passed to Maven with -s when set.</summary>
    public string? MavenSettingsFile { get; init; }
    /// <summary>Toolchains:Maven:Offline — adds -o.</summary>
    public bool MavenOffline { get; init; }
    /// <summary>Toolchains:Npm:Registry — the registry npm (and yarn/pnpm) install from, written to the build's ~/.npmrc.</summary>
    public string? NpmRegistry { get; init; }
    /// <summary>Toolchains:Npm:AuthToken — that registry's token, in ~/.npmrc only; masked in the log.</summary>
    public string? NpmAuthToken { get; init; }
    /// <summary>Toolchains:Npm:VerifyCorepackSignatures — false sets COREPACK_INTEGRITY_KEYS=0 (mirrors without signatures).</summary>
    public bool NpmVerifyCorepackSignatures { get; init; } = true;
    /// <summary>Toolchains:NuGet:ConfigFile — a NuGet.Config (sources, credentials) copied to the build's ~/.nuget/NuGet/NuGet.Config.</summary>
    public string? NuGetConfigFile { get; init; }
    /// <summary>Toolchains:Gradle:InitScript — an init script of the operator's, copied to the build's ~/.gradle/init.d/ and passed to Gradle.</summary>
    public string? GradleInitScript { get; init; }
    /// <summary>Toolchains:Gradle:MirrorUrl — the Maven repository every repository of a Gradle build (plugins included) is pointed at.</summary>
    public string? GradleMirrorUrl { get; init; }
    /// <summary>Toolchains:Gradle:MirrorUsername and MirrorPassword — the mirror's credentials, in the generated init script only; the password is masked in the log.</summary>
    public string? GradleMirrorUsername { get; init; }
    public string? GradleMirrorPassword { get; init; }
}

/// <summary>POST .../phase: the runner enters a phase. Doubles as the heartbeat.</summary>
public sealed record PhaseReport(BuildPhase Phase);

/// <summary>
/// POST .../steps: every step of the attempt as it stands now, in order. Sent when the steps are known and when each
/// starts and ends; each report replaces the previous one (and a previous attempt's steps). 204.
/// </summary>
public sealed record StepsReport(IReadOnlyList<BuildStep> Steps);

/// <summary>What a runner may write: the result, the manifest, or one artifact by file name.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<UploadKind>))]
public enum UploadKind
{
    [JsonStringEnumMemberName("result")] Result,
    [JsonStringEnumMemberName("manifest")] Manifest,
    [JsonStringEnumMemberName("artifact")] Artifact,
}

/// <summary>POST .../uploads: asks for a signed write URL for exactly one blob of this build.</summary>
public sealed record UploadRequest(UploadKind Kind, string? Name = null);

/// <summary>A signed URL and when it expires.</summary>
public sealed record SignedLink(Uri Url, DateTimeOffset ExpiresAt);

/// <summary>Measured phase durations, in seconds.</summary>
public sealed record PhaseDurations
{
    public double? Queue { get; init; }
    public double? Stage { get; init; }
    public double? Build { get; init; }
    public double? Publish { get; init; }
}

/// <summary>One file in result.zip or one artifact: path, size and SHA-256 (lower-case hex).</summary>
public sealed record FileEntry(string Path, long Size, string Sha256);

/// <summary>POST .../complete: the build's end as the runner saw it.</summary>
public sealed record CompleteRequest
{
    public required BuildOutcome Outcome { get; init; }
    public int? ExitCode { get; init; }
    public string? Error { get; init; }
    public string? Toolchain { get; init; }
    public string? Command { get; init; }
    /// <summary>The version artifacts are promoted under (autobuilder.yml, project file, else the build number).</summary>
    public string? Version { get; init; }
    public PhaseDurations Durations { get; init; } = new();
    /// <summary>Files inside result.zip.</summary>
    public IReadOnlyList<FileEntry> Files { get; init; } = [];
    /// <summary>Artifacts uploaded to the build's artifact folder, by file name.</summary>
    public IReadOnlyList<FileEntry> Artifacts { get; init; } = [];
    /// <summary>The steps' final states, in order; empty when the build never reached them (staging failed) or from an older runner.</summary>
    public IReadOnlyList<BuildStep> Steps { get; init; } = [];
}

/// <summary>result.json: the manifest the runner writes next to result.zip.</summary>
public sealed record BuildManifest
{
    public required string BuildId { get; init; }
    public required string ProjectId { get; init; }
    public required int Number { get; init; }
    public required int Attempt { get; init; }
    public required BuildOutcome Status { get; init; }
    public int? ExitCode { get; init; }
    public string? Error { get; init; }
    public string? Toolchain { get; init; }
    public string? Command { get; init; }
    public string? Version { get; init; }
    public PhaseDurations Durations { get; init; } = new();
    public IReadOnlyList<FileEntry> Files { get; init; } = [];
    public IReadOnlyList<FileEntry> Artifacts { get; init; } = [];
    public IReadOnlyList<BuildStep> Steps { get; init; } = [];

    /// <summary>The manifest of one attempt: its identity and what the runner reports at its end.</summary>
    public static BuildManifest Create(RunnerSpec spec, CompleteRequest report)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(report);
        return new BuildManifest
        {
            BuildId = spec.BuildId,
            ProjectId = spec.ProjectId,
            Number = spec.Number,
            Attempt = spec.Attempt,
            Status = report.Outcome,
            ExitCode = report.ExitCode,
            Error = report.Error,
            Toolchain = report.Toolchain,
            Command = report.Command,
            Version = report.Version,
            Durations = report.Durations,
            Files = report.Files,
            Artifacts = report.Artifacts,
            Steps = report.Steps,
        };
    }
}
