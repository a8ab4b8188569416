using AutoBuilder.Core.Protocol;
using AutoBuilder.Runner.Configuration;
using AutoBuilder.Runner.Processes;

namespace AutoBuilder.Runner.Tests.Attempts;

/// <summary><see cref="AttemptPlan"/> as tables: what an attempt decides from its spec, autobuilder.yml and the runner's facts.</summary>
public sealed class AttemptPlanTests
{
    private static readonly RunnerFacts Root = new(IsRoot: true, Bubblewrap: "/usr/bin/bwrap", EgressUnavailable: null);

    private static RunnerSpec Spec(int timeoutSeconds = 600, int maxTimeoutSeconds = 3600, CacheMode cache = CacheMode.Keyed,
        bool sandboxed = true, SandboxNetwork network = SandboxNetwork.Egress, int? buildUid = 64000, int? buildGid = null) => new()
        {
            BuildId = "b1",
            ProjectId = "demo",
            Number = 1,
            Attempt = 1,
            SourceUrl = new Uri("http://127.0.0.1/source"),
            LogAppendUrl = new Uri("http://127.0.0.1/log"),
            TimeoutSeconds = timeoutSeconds,
            MaxTimeoutSeconds = maxTimeoutSeconds,
            Caches = new CacheSettings { Mode = cache },
            Sandbox = new SandboxSettings { Enabled = sandboxed, Network = network, BuildUid = buildUid, BuildGid = buildGid },
        };

    /// <summary>In a Kubernetes pod the pod is the sandbox: no bwrap and no namespaces of the runner's own around the command.</summary>
    [Fact]
    public void Sandbox_InAPod_IsThePod()
    {
        var spec = Spec(sandboxed: false) with { Sandbox = new SandboxSettings { Enabled = false, InPod = true } };

        var plan = AttemptPlan.Create(spec, BuildConfig.Empty, Root);

        Assert.Null(plan.Sandbox);
        Assert.Null(plan.Namespaces);
        Assert.Equal("sandbox: the build's own pod (Kubernetes)", plan.SandboxDescription);
    }

    /// <summary>autobuilder.yml's timeout (-1: none) against the server's default and maximum; the capped note only when it was capped.</summary>
    [Theory]
    [InlineData(600, 3600, -1, 600, false)]
    [InlineData(600, 3600, 60, 60, false)]
    [InlineData(600, 3600, 3600, 3600, false)] // at the maximum, not past it
    [InlineData(600, 3600, 3601, 3600, true)]
    [InlineData(30, 3600, -1, 30, false)]
    public void Timeout_IsTheConfiguredOneCappedAtTheMaximum(int defaultSeconds, int maxSeconds, int configuredSeconds, int expectedSeconds, bool capped)
    {
        var config = configuredSeconds < 0 ? BuildConfig.Empty : new BuildConfig { Timeout = TimeSpan.FromSeconds(configuredSeconds) };

        var plan = AttemptPlan.Create(Spec(defaultSeconds, maxSeconds), config, Root);

        Assert.Equal(TimeSpan.FromSeconds(expectedSeconds), plan.Timeout);
        Assert.Equal(capped, plan.TimeoutCapped is not null);
        if (capped)
        {
            Assert.Equal($"timeout {BuildProcess.Describe(TimeSpan.FromSeconds(configuredSeconds))} from autobuilder.yml is capped at the maximum {BuildProcess.Describe(TimeSpan.FromSeconds(maxSeconds))}", plan.TimeoutCapped);
        }
    }

    /// <summary>Staging and publishing get the build's timeout, never less than five minutes (transfers of a short build still finish).</summary>
    [Theory]
    [InlineData(30, 300)]
    [InlineData(300, 300)]
    [InlineData(900, 900)]
    public void PhaseLimit_IsTheTimeoutAtLeastFiveMinutes(int timeoutSeconds, int expectedSeconds)
    {
        var plan = AttemptPlan.Create(Spec(timeoutSeconds), BuildConfig.Empty, Root);

        Assert.Equal(TimeSpan.FromSeconds(expectedSeconds), plan.PhaseLimit);
        Assert.Equal(TimeSpan.FromSeconds(expectedSeconds), AttemptPlan.DefaultPhaseLimit(Spec(timeoutSeconds)));
    }

    /// <summary>autobuilder.yml's cache: false turns any mode off; the off line names who turned it off.</summary>
    [Theory]
    [InlineData(CacheMode.Keyed, null, CacheMode.Keyed, null)]
    [InlineData(CacheMode.Shared, null, CacheMode.Shared, null)]
    [InlineData(CacheMode.Off, null, CacheMode.Off, "cache: off")]
    [InlineData(CacheMode.Keyed, false, CacheMode.Off, "cache: off (autobuilder.yml)")]
    [InlineData(CacheMode.Shared, false, CacheMode.Off, "cache: off (autobuilder.yml)")]
    [InlineData(CacheMode.Off, false, CacheMode.Off, "cache: off")]
    [InlineData(CacheMode.Keyed, true, CacheMode.Keyed, null)]
    public void CacheMode_IsTheServersUnlessAutobuilderYmlTurnsItOff(CacheMode server, bool? enabledInYml, CacheMode expected, string? offLine)
    {
        var config = enabledInYml is { } enabled ? new BuildConfig { Cache = enabled ? new CacheConfig() : CacheConfig.Off } : BuildConfig.Empty;

        var plan = AttemptPlan.Create(Spec(cache: server), config, Root);

        Assert.Equal(expected, plan.CacheMode);
        Assert.Equal(expected, AttemptPlan.CacheModeOf(Spec(cache: server), config));
        Assert.Equal(offLine, plan.CacheOff);
    }

    /// <summary>Only a root runner changes users, and only to a uid above 0; the gid defaults to the uid.</summary>
    [Theory]
    [InlineData(true, 64000, null, 64000, 64000)]
    [InlineData(true, 64000, 65000, 64000, 65000)]
    [InlineData(false, 64000, null, -1, -1)]
    [InlineData(true, null, null, -1, -1)]
    [InlineData(true, 0, null, -1, -1)]
    public void RunAs_IsTheBuildUserOnlyForARootRunner(bool root, int? uid, int? gid, int expectedUid, int expectedGid)
    {
        var plan = AttemptPlan.Create(Spec(buildUid: uid, buildGid: gid), BuildConfig.Empty, Root with { IsRoot = root });

        Assert.Equal(expectedUid < 0 ? null : new BuildUser((uint)expectedUid, (uint)expectedGid), plan.RunAs);
        Assert.Equal(expectedUid < 0 ? null : $"build user: uid {expectedUid}, gid {expectedGid} (the runner is root; Sandbox:BuildUid)", plan.BuildUserDescription);
    }

    /// <summary>
    /// The sandbox as the server decided it and the runner can give it: a runner without bwrap, or without egress when the
    /// server asked for egress, refuses the attempt rather than run it less isolated.
    /// </summary>
    [Theory]
    [InlineData(true, SandboxNetwork.Egress, true, null, "sandbox: bubblewrap, network: egress", null)]
    [InlineData(true, SandboxNetwork.None, true, "no slirp4netns", "sandbox: bubblewrap, no network", null)] // egress not asked for
    [InlineData(true, SandboxNetwork.Host, true, null, "sandbox: bubblewrap, network: the host's", null)]
    [InlineData(true, SandboxNetwork.Egress, false, null, null, "bubblewrap ('bwrap') is not on the runner's PATH")]
    [InlineData(true, SandboxNetwork.Egress, true, "no slirp4netns", null, "Sandbox:Network=Egress, but this runner cannot: no slirp4netns")]
    [InlineData(false, SandboxNetwork.None, false, null, "sandbox: off (the server's Sandbox:Mode); own pid namespace, no network", null)]
    [InlineData(false, SandboxNetwork.Egress, false, null, "sandbox: off (the server's Sandbox:Mode); own pid namespace, no network", null)] // Egress needs the sandbox
    [InlineData(false, SandboxNetwork.Host, false, null, "sandbox: off (the server's Sandbox:Mode); own pid namespace, network: the host's", null)]
    public void Sandbox_IsTheServersDecisionOrARefusal(bool sandboxed, SandboxNetwork network, bool hasBwrap, string? egressUnavailable, string? description, string? refusal)
    {
        var facts = new RunnerFacts(true, hasBwrap ? "/usr/bin/bwrap" : null, egressUnavailable);

        var plan = AttemptPlan.Create(Spec(sandboxed: sandboxed, network: network), BuildConfig.Empty, facts);

        if (refusal is null)
        {
            Assert.Null(plan.Refusal);
            Assert.StartsWith(description!, plan.SandboxDescription, StringComparison.Ordinal);
            Assert.Equal(sandboxed, plan.Sandbox is not null);
            Assert.Equal(sandboxed && network != SandboxNetwork.None, plan.Sandbox?.SharesNetwork ?? false);
            Assert.Equal(!sandboxed, plan.Namespaces is not null);
            Assert.Equal(!sandboxed && network == SandboxNetwork.Host, plan.Namespaces?.HostNetwork ?? false);
        }
        else
        {
            Assert.Contains(refusal, plan.Refusal, StringComparison.Ordinal);
            Assert.Null(plan.Sandbox);
        }
    }
}
