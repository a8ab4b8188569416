using System.Diagnostics;
using System.Globalization;

namespace AutoBuilder.Runner.Processes;

/// <summary>One command to run: the shell command, where, with exactly which environment, for how long.</summary>
public sealed record BuildProcessRequest
{
    /// <summary>Run with /bin/sh -c, stderr merged into stdout.</summary>
    public required string Command { get; init; }
    public required string WorkingDirectory { get; init; }
    /// <summary>The command's whole environment: nothing of the runner's own is inherited.</summary>
    public required IReadOnlyDictionary<string, string> Environment { get; init; }
    public required TimeSpan Timeout { get; init; }
    /// <summary>
    /// Runs the command inside this sandbox: the bwrap executable and its options up to "--"
    /// (<see cref="Sandbox.Arguments"/>). Null runs it directly.
    /// </summary>
    public IReadOnlyList<string>? Sandbox { get; init; }
    /// <summary>Where bwrap reports its status (a file the sandbox cannot see); required with <see cref="Sandbox"/>.</summary>
    public string? SandboxStatusFile { get; init; }
    /// <summary>Run the command as this user (the launcher drops to it with setpriv); null keeps the runner's user.</summary>
    public BuildUser? RunAs { get; init; }
    /// <summary>
    /// With <see cref="Sandbox"/>: give the command a network namespace of its own connected by this (Sandbox:Network=Egress);
    /// the sandbox's options must then share that namespace (--share-net).
    /// </summary>
    public EgressNetwork? Egress { get; init; }
    /// <summary>
    /// Without <see cref="Sandbox"/>: run the command in namespaces of its own (<see cref="OwnNamespaces"/>); null runs it
    /// in the runner's (a Kubernetes build pod, which is the sandbox).
    /// </summary>
    public OwnNamespaces? Namespaces { get; init; }
}

/// <summary>
/// An unsandboxed command's own namespaces (unshare): a pid namespace, so that every process it leaves — a setsid daemon
/// too — dies when it ends; and, unless <paramref name="HostNetwork"/> (Sandbox:Network=Host), a network namespace with
/// only its own loopback.
/// </summary>
public sealed record OwnNamespaces(bool HostNetwork);

/// <summary>The unprivileged user a build runs as when the runner is root (Sandbox:BuildUid, Sandbox:BuildGid).</summary>
public sealed record BuildUser(uint Uid, uint Gid);

/// <summary>
/// How the command ended. <see cref="ExitCode"/> is null when it was killed on timeout.
/// <see cref="SandboxFailed"/>: the sandbox never ran the command (bwrap's reason is in the output).
/// </summary>
public sealed record BuildProcessResult(int? ExitCode, bool TimedOut, TimeSpan Elapsed, bool SandboxFailed = false);

/// <summary>
/// Runs a build command in its own session (setsid), so the whole tree — including background
/// children — can be killed with one kill(-pgid, SIGKILL) on timeout, cancellation, or when the
/// shell exits leaving stragglers behind; in a sandbox or namespaces of its own, also what left the group.
/// The launch chain dies with the runner, even a SIGKILLed one (the parent-death signal). Output is passed on as raw
/// bytes, in order.
/// </summary>
public sealed class BuildProcess(TimeProvider? timeProvider = null)
{
    private const string SetsidPath = "/usr/bin/setsid";
    private const string SetprivPath = "/usr/bin/setpriv";
    private const string UnsharePath = "/usr/bin/unshare";
    /// <summary>The Egress launcher's bound on its wait for the runner's "go" (longer than the runner's own set-up bounds).</summary>
    private const int LauncherWaitSeconds = 120;
    private const int ReadBufferSize = 16 * 1024;
    private static readonly TimeSpan OutputDrainLimit = TimeSpan.FromSeconds(5);

    private readonly TimeProvider _timeProvider = timeProvider ?? TimeProvider.System;

    /// <summary>Runs the command; <paramref name="output"/> receives stdout+stderr chunks in order.</summary>
    /// <exception cref="OperationCanceledException">The token was cancelled; the process group was killed first.</exception>
    public async Task<BuildProcessResult> RunAsync(
        BuildProcessRequest request,
        Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> output,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(output);
        cancellationToken.ThrowIfCancellationRequested();

        var useSetsid = File.Exists(SetsidPath);
        var sandboxed = request.Sandbox is { Count: > 0 };
        var waitsForGo = sandboxed && request.Egress is not null;
        var launch = LaunchArguments(request, useSetsid);
        var startInfo = new ProcessStartInfo
        {
            FileName = launch[0],
            // Host-side launch processes (setsid, sh, setpriv, bwrap) run outside the sandbox: they start in a neutral
            // folder with a fixed environment, and nothing the user controls reaches them (docs/SECURITY.md).
            WorkingDirectory = sandboxed ? "/" : request.WorkingDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = false,
            UseShellExecute = false,
        };
        startInfo.Environment.Clear();
        foreach (var (name, value) in LauncherEnvironment)
        {
            startInfo.Environment[name] = value;
        }

        foreach (var argument in launch.Skip(1))
        {
            startInfo.ArgumentList.Add(argument);
        }

        if (sandboxed)
        {
            File.Delete(request.SandboxStatusFile!);
        }

        var started = _timeProvider.GetTimestamp();
        using var process = new Process { StartInfo = startInfo };
        // From the spawner thread: the sandbox's --die-with-parent then follows this process, not a pool thread.
        await SpawnThread.StartAsync(process).ConfigureAwait(false);
        // setsid execs in place (the child is no group leader), so its pid is the new group's id.
        var processGroup = useSetsid ? process.Id : 0;
        if (!waitsForGo && request.Namespaces is null)
        {
            process.StandardInput.Close(); // stdin: immediate EOF, never the runner's.
        }

        using var timeout = new CancellationTokenSource(request.Timeout, _timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        using var drain = new CancellationTokenSource();
        var pump = PumpAsync(process.StandardOutput.BaseStream, output, drain.Token, cancellationToken);
        IAsyncDisposable? network = null;
        if (waitsForGo)
        {
            try
            {
                // The launcher execs in place throughout, so its pid is the namespace's first process. It waits on its
                // stdin: "go" once the network is ready; EOF without it (this process died) ends it without running anything.
                network = await request.Egress!.AttachAsync(process.Id, cancellationToken).ConfigureAwait(false);
                try
                {
                    await process.StandardInput.WriteLineAsync(LauncherGo).ConfigureAwait(false);
                    process.StandardInput.Close();
                }
                catch (IOException)
                {
                    throw new SandboxNetworkException("the build's launcher ended before its network was ready");
                }
            }
            catch
            {
                KillGroup(process, processGroup);
                await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
                if (network is not null)
                {
                    await network.DisposeAsync().ConfigureAwait(false);
                }

                throw;
            }
        }

        var timedOut = false;
        try
        {
            await process.WaitForExitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            timedOut = !cancellationToken.IsCancellationRequested;
        }
        finally
        {
            // Always: background children of a finished shell must not outlive the build, and they
            // would hold the output pipe open.
            KillGroup(process, processGroup);
        }

        await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        if (request.Namespaces is not null)
        {
            process.StandardInput.Close(); // held open while the command ran: its namespaces' init watches for EOF.
        }

        if (network is not null)
        {
            await network.DisposeAsync().ConfigureAwait(false);
        }

        // A process that left the group and the sandbox (possible only unsandboxed) may hold the pipe open for ever;
        // the attempt must still end, so the output is read for a bounded while after the command ended.
        drain.CancelAfter(OutputDrainLimit);
        try
        {
            await pump.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Reported below.
        }

        cancellationToken.ThrowIfCancellationRequested();
        var elapsed = _timeProvider.GetElapsedTime(started);
        return timedOut
            ? new BuildProcessResult(null, true, elapsed)
            : new BuildProcessResult(process.ExitCode, false, elapsed, request.Sandbox is { Count: > 0 } && !SandboxRanCommand(request.SandboxStatusFile!));
    }

    /// <summary>The whole environment of the host-side launch processes: fixed, never the build's.</summary>
    private static readonly KeyValuePair<string, string>[] LauncherEnvironment =
    [
        new("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        new("LANG", "C.UTF-8"),
    ];

    /// <summary>What the runner writes to an Egress launcher's stdin once the build's network is ready.</summary>
    private const string LauncherGo = "go";

    /// <summary>
    /// The whole command line: [setsid] [setpriv --pdeathsig KILL] sh -c LAUNCHER ... then, sandboxed,
    /// [unshare --net sh -c WAIT-FOR-GO] [setpriv ...] bwrap ... --clearenv --setenv ... --, or, unsandboxed,
    /// [unshare --pid --fork --kill-child --mount-proc [--net] sh -c INIT] [setpriv ...] env -i ...; then /bin/sh -c SCRIPT.
    /// The build's environment is set by the last process before the build's own shell — bwrap inside its new
    /// namespaces, or env(1) after the privileges were dropped — so no host-side process ever runs with it.
    /// </summary>
    private static List<string> LaunchArguments(BuildProcessRequest request, bool useSetsid)
    {
        var args = new List<string>();
        if (useSetsid)
        {
            args.Add(SetsidPath);
        }

        // The chain dies with the runner, even a SIGKILLed one, before bwrap's --die-with-parent or the namespaces exist.
        // The signal follows the thread that forked it: BuildProcess forks from SpawnThread, which lives as long as the
        // process. (It does not survive the privilege drop; bwrap sets its own, the namespaces' init keeps its own.)
        args.AddRange(DieWithParent());
        args.Add("/bin/sh");
        args.Add("-c");
        if (request.Sandbox is { Count: > 0 } sandbox)
        {
            var statusFile = request.SandboxStatusFile ?? throw new ArgumentException("A sandboxed command needs a status file.", nameof(request));
            if (sandbox[^1] != "--")
            {
                throw new ArgumentException("The sandbox's options must end with \"--\".", nameof(request));
            }

            // The outer shell merges bwrap's own errors into the output, opens the status file on fd 3
            // (bwrap closes it before the command runs) and becomes bwrap, which runs the command's shell.
            args.AddRange(["exec 2>&1 3>\"$0\"\nexec \"$@\"", statusFile]);
            if (request.Egress is not null)
            {
                // Still as the runner's user: a network namespace of its own, in which the launcher waits until the
                // runner has connected and shaped it (EgressNetwork.AttachAsync) and said "go" on its stdin, then goes on
                // in place (same pid). EOF without "go" (the runner died) or no word within the bound: it runs nothing.
                args.AddRange([UnsharePath, "--net", "--", "/bin/sh", "-c",
                    $"go=$(/usr/bin/timeout --foreground {LauncherWaitSeconds} /usr/bin/head -n 1) && [ \"$go\" = {LauncherGo} ] || exit 125\nexec \"$@\" </dev/null",
                    "autobuilder-network-wait"]);
            }

            args.AddRange(DropPrivileges(request.RunAs));
            args.Add(sandbox[0]);
            args.AddRange(["--json-status-fd", "3"]);
            args.AddRange(sandbox.Skip(1).SkipLast(1));
            args.Add("--clearenv");
            foreach (var (name, value) in request.Environment)
            {
                args.AddRange(["--setenv", name, value]);
            }

            args.Add("--");
        }
        else
        {
            args.AddRange(["exec 2>&1\nexec \"$@\"", "autobuilder-launch"]);
            if (request.Namespaces is { } namespaces)
            {
                args.AddRange(OwnNamespacesArguments(namespaces));
            }

            args.AddRange(DropPrivileges(request.RunAs));
            args.AddRange(["/usr/bin/env", "-i"]);
            args.AddRange(request.Environment.Select(variable => $"{variable.Key}={variable.Value}"));
        }

        // One pipe for both streams keeps their order; the newline keeps a trailing comment in the command harmless.
        args.AddRange(["/bin/sh", "-c", "exec 2>&1\n" + request.Command]);
        return args;
    }

    /// <summary>
    /// unshare(1) into a pid namespace (and a network namespace) of the command's own. Its first process, its init, is a
    /// shell of the runner's user (root's, out of the build user's reach) that starts the command and waits for it; when it
    /// ends, the kernel kills every process left in the namespace. It ends when the command ends; when the runner's end of
    /// its stdin closes (the runner died, however: this holds even when unshare's --kill-child came too late); or with
    /// unshare, which dies with the runner. A runner that is not root makes a user namespace first (mapped to root in it,
    /// which owns nothing of the host's) and sets the parent-death signal again, which that clears.
    /// </summary>
    private static List<string> OwnNamespacesArguments(OwnNamespaces namespaces)
    {
        var args = new List<string>();
        if (!Environment.IsPrivilegedProcess)
        {
            args.AddRange([UnsharePath, "--user", "--map-root-user", "--"]);
            args.AddRange(DieWithParent());
        }

        args.AddRange([UnsharePath, "--pid", "--fork", "--kill-child", "--mount-proc"]);
        if (!namespaces.HostNetwork)
        {
            args.Add("--net");
        }

        args.AddRange(["--", "/bin/sh", "-c", namespaces.HostNetwork ? NamespaceInit : OwnLoopback + NamespaceInit, "autobuilder-init"]);
        return args;
    }

    /// <summary>A new network namespace's loopback starts down: up, a build can still talk to itself.</summary>
    private const string OwnLoopback = "[ ! -x /usr/sbin/ip ] || /usr/sbin/ip link set lo up\n";

    /// <summary>
    /// The namespaces' init: the command gets an empty stdin and never the runner's pipe (fd 3 here), which a watcher
    /// reads until EOF, then kills the command; the init's exit status is the command's.
    /// </summary>
    private const string NamespaceInit =
        "exec 3<&0 </dev/null\n"
        + "\"$@\" 3<&- &\n"
        + "build=$!\n"
        + "{ /usr/bin/cat <&3 >/dev/null 3<&-; kill -KILL \"$build\"; } 2>/dev/null &\n"
        + "wait \"$build\"";

    /// <summary>setpriv(1) that sets only the parent-death signal (SIGKILL) and runs the rest of the chain.</summary>
    private static string[] DieWithParent() => File.Exists(SetprivPath) ? [SetprivPath, "--pdeathsig", "KILL", "--"] : [];

    /// <summary>setpriv(1) to the build user: real, effective and saved ids, no supplementary groups, no capabilities.</summary>
    private static string[] DropPrivileges(BuildUser? user) => user is null
        ? []
        :
        [
            SetprivPath,
            $"--reuid={user.Uid}", $"--regid={user.Gid}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--",
        ];

    /// <summary>bwrap writes {"exit-code": N} when the command it ran ended; never when setting up the sandbox failed.</summary>
    private static bool SandboxRanCommand(string statusFile)
    {
        try
        {
            return File.Exists(statusFile) && File.ReadAllText(statusFile).Contains("\"exit-code\"", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static async Task PumpAsync(Stream stdout, Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> output, CancellationToken drain, CancellationToken cancellationToken)
    {
        var buffer = new byte[ReadBufferSize];
        try
        {
            int read;
            while ((read = await stdout.ReadAsync(buffer, drain).ConfigureAwait(false)) > 0)
            {
                // The sink may keep the memory only until it returns.
                await output(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (drain.IsCancellationRequested)
        {
            // Output of stragglers after the drain limit is dropped.
        }
    }

    private static void KillGroup(Process process, int processGroup)
    {
        if (processGroup > 0)
        {
            _ = NativeMethods.Kill(-processGroup, NativeMethods.SIGKILL);
        }

        try
        {
            // Fallback for children that left the group (or no setsid): walks /proc by parentage.
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // Raced with exit.
        }
    }

    /// <summary>"1h 2m 3s"-style text for log lines and error messages.</summary>
    public static string Describe(TimeSpan duration) => duration.TotalSeconds switch
    {
        < 60 => string.Create(CultureInfo.InvariantCulture, $"{duration.TotalSeconds:0.#}s"),
        < 3600 => string.Create(CultureInfo.InvariantCulture, $"{(int)duration.TotalMinutes}m {duration.Seconds}s"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{(int)duration.TotalHours}h {duration.Minutes}m {duration.Seconds}s"),
    };
}
