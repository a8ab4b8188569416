using System.Globalization;
using AutoBuilder.Core.Protocol;
using AutoBuilder.Runner.Configuration;
using AutoBuilder.Runner.Processes;

namespace AutoBuilder.Runner;

/// <summary>What the runner's machine offers an attempt, looked up once: facts, not decisions.</summary>
/// <param name="IsRoot">Only root can change users (the build user).</param>
/// <param name="Bubblewrap">bwrap's path, or null when it is not on PATH.</param>
/// <param name="EgressUnavailable">Why this runner cannot give a build its own egress network; null when it can.</param>
public sealed record RunnerFacts(bool IsRoot, string? Bubblewrap, string? EgressUnavailable)
{
    /// <summary>This machine's facts; only what the spec needs is looked up (bwrap for a sandbox, egress for Egress).</summary>
    public static RunnerFacts OfThisMachine(SandboxSettings sandbox)
    {
        ArgumentNullException.ThrowIfNull(sandbox);
        return new(
            Environment.IsPrivilegedProcess,
            sandbox.Enabled ? Sandbox.Find() : null,
            sandbox.Enabled && sandbox.Network == SandboxNetwork.Egress ? EgressNetwork.Unavailable() : null);
    }
}

/// <summary>The sandbox the command runs in: bwrap, and its network.</summary>
public sealed record SandboxPlan(string Bubblewrap, SandboxNetwork Network)
{
    /// <summary>bwrap shares the namespace it starts in: the host's (Host), or the build's own egress namespace.</summary>
    public bool SharesNetwork => Network != SandboxNetwork.None;

    /// <summary>The attempt's "sandbox: ..." log line.</summary>
    public string Description => Network switch
    {
        SandboxNetwork.Egress => "sandbox: bubblewrap, network: egress (the internet; not the host, its loopback, link-local or private networks)",
        SandboxNetwork.Host => "sandbox: bubblewrap, network: the host's (Sandbox:Network=Host)",
        _ => "sandbox: bubblewrap, no network",
    };
}

/// <summary>
/// Everything an attempt decides from its spec, autobuilder.yml and the runner's facts before anything runs: how long
/// it may take, which cache it uses, as whom and in which sandbox its command runs, or why it cannot run at all. Pure
/// (<see cref="Create"/>), so every decision is tested as a table; the stages only carry it out.
/// </summary>
public sealed record AttemptPlan
{
    /// <summary>Staging and publishing are each bounded like the build: by its timeout, and never less than this for transfers.</summary>
    public static readonly TimeSpan MinimumTransferLimit = TimeSpan.FromMinutes(5);

    /// <summary>The build command's limit: the spec's default, or autobuilder.yml's capped at the server's maximum.</summary>
    public required TimeSpan Timeout { get; init; }
    /// <summary>Set when autobuilder.yml asked for more than the maximum: the log line that says so.</summary>
    public string? TimeoutCapped { get; init; }
    public required CacheMode CacheMode { get; init; }
    /// <summary>The "cache: off" log line when <see cref="CacheMode"/> is Off, naming who turned it off.</summary>
    public string? CacheOff { get; init; }
    /// <summary>The unprivileged user the command runs as; null keeps the runner's (which is then not root).</summary>
    public BuildUser? RunAs { get; init; }
    /// <summary>The command's sandbox; null runs it unsandboxed.</summary>
    public SandboxPlan? Sandbox { get; init; }
    /// <summary>Unsandboxed and not in a Kubernetes pod: the command's own pid namespace, and network unless Host.</summary>
    public OwnNamespaces? Namespaces { get; init; }
    /// <summary>Why the attempt cannot run on this runner (the build fails once with it); null when it can. The server's
    /// own refusal (<see cref="SandboxSettings.Refusal"/>) comes earlier, before anything is staged.</summary>
    public string? Refusal { get; init; }

    /// <summary>Staging's and publishing's bound.</summary>
    public TimeSpan PhaseLimit => Timeout > MinimumTransferLimit ? Timeout : MinimumTransferLimit;

    /// <summary>The "sandbox: ..." line of the attempt's log.</summary>
    public string SandboxDescription => Sandbox?.Description ?? Namespaces switch
    {
        null => "sandbox: the build's own pod (Kubernetes)",
        { HostNetwork: true } => "sandbox: off (the server's Sandbox:Mode); own pid namespace, network: the host's (Sandbox:Network=Host)",
        _ => "sandbox: off (the server's Sandbox:Mode); own pid namespace, no network",
    };

    /// <summary>Staging's bound before autobuilder.yml is read: the spec's default timeout, at least the transfer minimum.</summary>
    public static TimeSpan DefaultPhaseLimit(RunnerSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var timeout = TimeSpan.FromSeconds(spec.TimeoutSeconds);
        return timeout > MinimumTransferLimit ? timeout : MinimumTransferLimit;
    }

    /// <summary>The build user, when the spec names one and the runner is root (only root can change users).</summary>
    public static BuildUser? BuildUserOf(SandboxSettings sandbox, bool runnerIsRoot)
    {
        ArgumentNullException.ThrowIfNull(sandbox);
        return runnerIsRoot && sandbox.BuildUid is > 0 and var uid ? new BuildUser((uint)uid, (uint)(sandbox.BuildGid ?? uid)) : null;
    }

    /// <summary>The cache mode alone, which staging needs before the toolchain (the cache folder is part of its command).</summary>
    public static CacheMode CacheModeOf(RunnerSpec spec, BuildConfig config)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(config);
        return config.Cache?.Enabled == false ? CacheMode.Off : spec.Caches.Mode;
    }

    public static AttemptPlan Create(RunnerSpec spec, BuildConfig config, RunnerFacts facts)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(facts);

        var timeout = TimeSpan.FromSeconds(spec.TimeoutSeconds);
        string? capped = null;
        if (config.Timeout is { } configured)
        {
            var max = TimeSpan.FromSeconds(spec.MaxTimeoutSeconds);
            timeout = configured <= max ? configured : max;
            if (configured > max)
            {
                capped = $"timeout {BuildProcess.Describe(configured)} from autobuilder.yml is capped at the maximum {BuildProcess.Describe(max)}";
            }
        }

        var cacheMode = CacheModeOf(spec, config);
        var plan = new AttemptPlan
        {
            Timeout = timeout,
            TimeoutCapped = capped,
            CacheMode = cacheMode,
            CacheOff = cacheMode != CacheMode.Off ? null : spec.Caches.Mode == CacheMode.Off ? "cache: off" : "cache: off (autobuilder.yml)",
            RunAs = BuildUserOf(spec.Sandbox, facts.IsRoot),
        };

        if (!spec.Sandbox.Enabled)
        {
            // The pod is the sandbox; anywhere else an unsandboxed command still gets namespaces of its own.
            return spec.Sandbox.InPod ? plan : plan with { Namespaces = new OwnNamespaces(HostNetwork: spec.Sandbox.Network == SandboxNetwork.Host) };
        }

        if (facts.Bubblewrap is null)
        {
            return plan with { Refusal = "the server runs builds sandboxed (Sandbox:Mode) but bubblewrap ('bwrap') is not on the runner's PATH: install it (apt-get install bubblewrap) or set Sandbox:Mode=Off" };
        }

        // Decided by the server; a runner that cannot provide it fails the build rather than widen its network.
        if (spec.Sandbox.Network == SandboxNetwork.Egress && facts.EgressUnavailable is { } reason)
        {
            return plan with { Refusal = $"the server gives builds Sandbox:Network=Egress, but this runner cannot: {reason}" };
        }

        return plan with { Sandbox = new SandboxPlan(facts.Bubblewrap, spec.Sandbox.Network) };
    }

    /// <summary>The "build user: ..." log line, when there is one.</summary>
    public string? BuildUserDescription => RunAs is { } user
        ? string.Create(CultureInfo.InvariantCulture, $"build user: uid {user.Uid}, gid {user.Gid} (the runner is root; Sandbox:BuildUid)")
        : null;
}
