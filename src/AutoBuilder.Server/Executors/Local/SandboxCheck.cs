using System.Diagnostics;
using AutoBuilder.Core;
using AutoBuilder.Core.Protocol;
using AutoBuilder.Runner.Processes;
using AutoBuilder.Server.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AutoBuilder.Server.Executors.Local;

/// <summary>
/// Decides once, at start-up, whether builds run in bubblewrap: it runs a trivial sandboxed `true`.
/// Auto without a working bwrap logs one warning line and builds only admins' projects (unsandboxed); Required without
/// one fails start-up. The decision goes to every runner in its spec (<see cref="RunnerSpec.Sandbox"/>, <see cref="For"/>).
/// Under the Kubernetes executor the build pod is the sandbox (non-root, no capabilities, no privilege escalation,
/// its own filesystem, no service-account token): bubblewrap cannot run there and is not asked for.
/// </summary>
public sealed class SandboxCheck(IOptions<SandboxOptions> options, IOptions<ExecutorOptions> executor, ILogger<SandboxCheck> logger) : IHostedService
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(30);
    private readonly Lazy<Decision> _decision = new(() => executor.Value.Kind == ExecutorKind.Kubernetes
        ? new Decision(InPod(options.Value, logger), null)
        : Decide(options.Value, logger), LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The decision (made on first use, at the latest at start-up), as an admin's build gets it.</summary>
    public SandboxSettings Settings => _decision.Value.Settings;

    /// <summary>
    /// The decision for one build: the one place that says whose builds may run unsandboxed. Sandbox:Mode=Auto without a
    /// working bubblewrap runs admins' builds only (the one-user machine); any other user's build is refused, naming the
    /// fix. Sandbox:Mode=Off runs everyone's (the operator accepted the risk).
    /// </summary>
    public SandboxSettings For(bool ownerIsAdmin) => _decision.Value is { Unavailable: { } problem } && !ownerIsAdmin
        ? Settings with
        {
            Refusal = $"this server cannot sandbox builds (bubblewrap {Printable.Of(problem)}) and then runs only admins' builds, unsandboxed. "
                + "Ask its operator to install bubblewrap (apt-get install bubblewrap), or to set Sandbox:Mode=Off to run every user's builds unsandboxed, accepting the risk",
        }
        : Settings;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _ = Settings;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <param name="Unavailable">Auto fell back to unsandboxed: why bubblewrap cannot be used.</param>
    private sealed record Decision(SandboxSettings Settings, string? Unavailable);

    private static SandboxSettings InPod(SandboxOptions options, ILogger logger)
    {
        if (options.Mode == SandboxMode.Required)
        {
            throw new InvalidOperationException(
                "Sandbox:Mode Required asks for bubblewrap, which the Kubernetes executor's build pods cannot run (non-root, no capabilities): "
                + "there the pod is the sandbox. Set Sandbox:Mode to Off (or Auto) with Executor:Kind=Kubernetes.");
        }

        logger.LogInformation("Builds run in their own Kubernetes pods, which are their sandbox (bubblewrap is not used)");
        return new SandboxSettings { InPod = true };
    }

    private static Decision Decide(SandboxOptions options, ILogger logger)
    {
        var user = new SandboxSettings { BuildUid = options.BuildUid, BuildGid = options.BuildGid ?? options.BuildUid };
        if (Environment.IsPrivilegedProcess)
        {
            logger.LogInformation("The server runs as root: builds run as the unprivileged uid {Uid} gid {Gid} (Sandbox:BuildUid, Sandbox:BuildGid)", user.BuildUid, user.BuildGid);
        }

        // Unsandboxed, a build has a network only when the operator asked for the host's by name.
        var unsandboxed = user with { Network = options.Network == SandboxNetwork.Host ? SandboxNetwork.Host : SandboxNetwork.None };
        var network = unsandboxed.Network == SandboxNetwork.Host ? "the host's network (Sandbox:Network=Host)" : "no network";
        if (options.Mode == SandboxMode.Off)
        {
            logger.LogWarning(
                "Sandbox:Mode is Off: every user's builds run unsandboxed (the operator accepts the risk): they can read everything their user can; each gets {Network} and its own pid namespace",
                network);
            return new Decision(unsandboxed, null);
        }

        var problem = Probe(Environment.IsPrivilegedProcess ? user : null);
        if (problem is null)
        {
            var sandboxNetwork = DecideNetwork(options, logger);
            logger.LogInformation("Builds run sandboxed in bubblewrap (network {Network})", sandboxNetwork.ToString());
            return new Decision(user with
            {
                Enabled = true,
                Network = sandboxNetwork,
                AllowedNetworks = options.AllowedNetworks,
                HttpProxy = options.HttpProxy,
                HttpsProxy = options.HttpsProxy,
                NoProxy = options.NoProxy,
            }, null);
        }

        if (options.Mode == SandboxMode.Required)
        {
            throw new InvalidOperationException(
                $"Sandbox:Mode is Required but bubblewrap cannot sandbox builds: {problem}. Install it (apt-get install bubblewrap) or let it create namespaces here.");
        }

        logger.LogWarning(
            "Builds run UNSANDBOXED: bubblewrap {Problem}. Only admins' builds run (unsandboxed, with {Network}); other users' builds fail. Fix: apt-get install bubblewrap (and allow it to create namespaces), or set Sandbox:Mode=Off to run every user's builds unsandboxed, or Required to refuse to start without it",
            problem, network);
        return new Decision(unsandboxed, problem);
    }

    /// <summary>Egress when it can be provided here; otherwise no network, said in one warning line — never the host's.</summary>
    private static SandboxNetwork DecideNetwork(SandboxOptions options, ILogger logger)
    {
        if (options.Network != SandboxNetwork.Egress || EgressNetwork.Unavailable() is not { } reason)
        {
            return options.Network;
        }

        logger.LogWarning(
            "Sandbox:Network is Egress, but builds get NO network: {Reason}. Fix that, or set Sandbox:Network=None to silence this (Host gives builds the host's network and its loopback services: trusted builds only)",
            reason);
        return SandboxNetwork.None;
    }

    /// <summary>Null when a sandboxed `true` runs (as the build user, when one is given); else why not.</summary>
    private static string? Probe(SandboxSettings? asUser)
    {
        var bwrap = Sandbox.Find();
        if (bwrap is null)
        {
            return "is not installed ('bwrap' is not on PATH)";
        }

        var startInfo = new ProcessStartInfo(asUser is null ? bwrap : "/usr/bin/setpriv")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = "/",
        };
        if (asUser is not null)
        {
            // The build user must be able to make its own namespaces (unprivileged user namespaces).
            foreach (var argument in new[] { $"--reuid={asUser.BuildUid}", $"--regid={asUser.BuildGid}", "--clear-groups", "--no-new-privs", "--", bwrap })
            {
                startInfo.ArgumentList.Add(argument);
            }
        }

        foreach (var argument in new[] { "--unshare-all", "--unshare-user", "--disable-userns", "--cap-drop", "ALL", "--ro-bind", "/usr", "/usr" })
        {
            startInfo.ArgumentList.Add(argument);
        }

        foreach (var entry in new[] { "/bin", "/lib", "/lib64" })
        {
            var info = new FileInfo(entry);
            if (info.LinkTarget is { } target)
            {
                startInfo.ArgumentList.Add("--symlink");
                startInfo.ArgumentList.Add(target);
                startInfo.ArgumentList.Add(entry);
            }
            else if (Directory.Exists(entry))
            {
                startInfo.ArgumentList.Add("--ro-bind");
                startInfo.ArgumentList.Add(entry);
                startInfo.ArgumentList.Add(entry);
            }
        }

        foreach (var argument in new[] { "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--", "true" })
        {
            startInfo.ArgumentList.Add(argument);
        }

        try
        {
            using var process = Process.Start(startInfo)!;
            process.StandardInput.Close();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(ProbeTimeout))
            {
                process.Kill(entireProcessTree: true);
                return $"did not finish a trivial sandboxed command within {ProbeTimeout.TotalSeconds:0}s";
            }

            var message = stderr.GetAwaiter().GetResult().Trim();
            return process.ExitCode == 0 ? null : $"does not work here (exit code {process.ExitCode}: {message})";
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or IOException or InvalidOperationException)
        {
            return $"cannot be started ({ex.Message})";
        }
    }
}
