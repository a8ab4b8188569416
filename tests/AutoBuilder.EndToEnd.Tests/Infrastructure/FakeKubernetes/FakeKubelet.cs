using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using k8s.Models;

namespace AutoBuilder.EndToEnd.Tests.Infrastructure.FakeKubernetes;

/// <summary>An image the fake container runtime knows: its entrypoint, environment, user and the folders it carries.</summary>
/// <param name="Files">Host folder → path in the image (the image's own content, e.g. the published app at /app).</param>
public sealed record FakeImage(string Name, IReadOnlyList<string> Entrypoint, IReadOnlyDictionary<string, string> Env, long User, IReadOnlyDictionary<string, string> Files);

/// <summary>
/// The Job controller and kubelet of <see cref="FakeKubernetesApi"/>: for each Job it makes the pod and "runs" it — the
/// container's entrypoint and args as a local process under bubblewrap, whose filesystem is the image (the host's
/// /usr, /etc, /opt plus the image's own files) and exactly the volumes the pod declares at their mount paths
/// (emptyDir → a fresh folder, a PVC → its folder, a Secret → its keys as files), with --clearenv and only the
/// image's and the container's env, the declared workingDir and user, and a read-only root when asked. Nothing the
/// Job spec does not declare reaches the process. It reports pod and Job status through the API, enforces
/// activeDeadlineSeconds, and can be told to OOM-kill, evict or time out a Job.
/// </summary>
public sealed class FakeKubelet(FakeKubernetesApi api, string root) : IAsyncDisposable
{
    private static readonly string[] ImageFolders = ["/usr", "/etc", "/opt", "/sys"];
    private readonly ConcurrentDictionary<string, FakeImage> _images = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _claims = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, PodRun> _runs = new(StringComparer.Ordinal);
    private readonly ConcurrentBag<Task> _tasks = [];

    public enum Fault
    {
        None,
        OomKilled,
        Evicted,
        DeadlineExceeded,
        Deleted,
    }

    public void AddImage(FakeImage image) => _images[image.Name] = image;

    /// <summary>A PersistentVolumeClaim and the folder that backs it.</summary>
    public void AddClaim(string claimName, string folder) => _claims[claimName] = folder;

    public string? LogFile(string podName) => _runs.TryGetValue(podName, out var run) ? run.LogFile : null;

    /// <summary>The pod of a Job whose container runs (its process has started).</summary>
    public bool IsRunning(string jobName) => _runs.Values.Any(r => r.JobName == jobName && r.Process is { HasExited: false });

    public void Start(string ns, string jobName) => _tasks.Add(Task.Run(() => RunJobAsync(ns, jobName)));

    /// <summary>The container exceeds its memory limit: the kernel kills it (exit 137, OOMKilled).</summary>
    public Task InjectOomKillAsync(string jobName) => InjectAsync(jobName, Fault.OomKilled, null);

    /// <summary>The kubelet evicts the pod (e.g. "Pod ephemeral local storage usage exceeds the total limit of containers 20Gi.").</summary>
    public Task InjectEvictionAsync(string jobName, string message) => InjectAsync(jobName, Fault.Evicted, message);

    /// <summary>The Job passes its activeDeadlineSeconds now.</summary>
    public Task InjectDeadlineAsync(string jobName) => InjectAsync(jobName, Fault.DeadlineExceeded, null);

    public async ValueTask DisposeAsync()
    {
        foreach (var run in _runs.Values)
        {
            run.Fault = Fault.Deleted;
            Kill(run.Process);
        }

        await Task.WhenAll(_tasks).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    /// <summary>Graceful deletion of a Job's pods (SIGTERM, a grace period, SIGKILL), as for a foreground delete.</summary>
    public async Task DeletePodsOfAsync(V1Job job)
    {
        foreach (var pod in api.List<V1Pod>("pods").Where(p => p.Metadata.OwnerReferences?.Any(r => r.Uid == job.Metadata.Uid) == true))
        {
            await DeletePodAsync(pod.Metadata.NamespaceProperty, pod.Metadata.Name);
        }
    }

    private async Task DeletePodAsync(string ns, string podName)
    {
        api.Update<V1Pod>("pods", ns, podName, p => p.Metadata.DeletionTimestamp ??= DateTime.UtcNow);
        if (_runs.TryGetValue(podName, out var run))
        {
            run.Fault = run.Fault == Fault.None ? Fault.Deleted : run.Fault;
            if (run.Process is { HasExited: false } process)
            {
                Signal(process.Id, "TERM");
                using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                try
                {
                    await process.WaitForExitAsync(grace.Token);
                }
                catch (OperationCanceledException)
                {
                    Kill(process);
                }
            }

            run.Stopped.TrySetResult();
            await run.Finished.Task.WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        api.Remove("pods", ns, podName);
    }

    private async Task InjectAsync(string jobName, Fault fault, string? message)
    {
        var run = _runs.Values.FirstOrDefault(r => r.JobName == jobName) ?? throw new InvalidOperationException($"No pod runs for Job {jobName}.");
        if (fault == Fault.DeadlineExceeded)
        {
            await DeadlineAsync(run);
            return;
        }

        run.Fault = fault;
        run.Message = message;
        Kill(run.Process);
        run.Stopped.TrySetResult();
        await run.Finished.Task;
    }

    private async Task DeadlineAsync(PodRun run)
    {
        run.Fault = Fault.DeadlineExceeded;
        // As the Job controller does: mark the Job failed, then delete its active pods.
        api.Update<V1Job>("jobs", run.Namespace, run.JobName, j => Finish(j, succeeded: false, "DeadlineExceeded", "Job was active longer than specified deadline"));
        await DeletePodAsync(run.Namespace, run.PodName);
    }

    private async Task RunJobAsync(string ns, string jobName)
    {
        var job = api.Get<V1Job>("jobs", ns, jobName);
        if (job is null)
        {
            return;
        }

        var podName = $"{jobName}-{Guid.NewGuid().ToString("N")[..5]}";
        var spec = job.Spec.Template.Spec;
        var pod = new V1Pod
        {
            ApiVersion = "v1",
            Kind = "Pod",
            Metadata = new V1ObjectMeta
            {
                Name = podName,
                NamespaceProperty = ns,
                Labels = new Dictionary<string, string>(job.Spec.Template.Metadata.Labels),
                Annotations = job.Spec.Template.Metadata.Annotations,
                OwnerReferences = [new V1OwnerReference { ApiVersion = "batch/v1", Kind = "Job", Name = jobName, Uid = job.Metadata.Uid, Controller = true, BlockOwnerDeletion = true }],
            },
            Spec = spec,
            Status = new V1PodStatus
            {
                Phase = "Pending",
                Conditions = [new V1PodCondition { Type = "PodScheduled", Status = "True", LastTransitionTime = DateTime.UtcNow }],
            },
        };
        var run = new PodRun(ns, jobName, podName, Path.Combine(root, "pods", podName));
        _runs[podName] = run;
        Directory.CreateDirectory(run.Folder);
        api.Add("pods", pod);
        api.Update<V1Job>("jobs", ns, jobName, j => j.Status = new V1JobStatus { Active = 1, StartTime = DateTime.UtcNow });
        if (job.Spec.ActiveDeadlineSeconds is { } deadline)
        {
            _tasks.Add(Task.Run(async () =>
            {
                if (await Task.WhenAny(run.Finished.Task, Task.Delay(TimeSpan.FromSeconds(deadline))) != run.Finished.Task && run.Fault == Fault.None)
                {
                    await DeadlineAsync(run);
                }
            }));
        }

        try
        {
            await RunPodAsync(job, pod, run);
        }
        finally
        {
            run.Finished.TrySetResult();
        }
    }

    private async Task RunPodAsync(V1Job job, V1Pod pod, PodRun run)
    {
        var ns = pod.Metadata.NamespaceProperty;
        var container = pod.Spec.Containers[0];
        var startInfo = new ProcessStartInfo("bwrap") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        var args = startInfo.ArgumentList;

        // Volumes, as the kubelet prepares them; a missing Secret or claim keeps the pod waiting, as on a cluster.
        var volumes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var volume in pod.Spec.Volumes ?? [])
        {
            var folder = Path.Combine(run.Folder, "volumes", volume.Name);
            if (volume.EmptyDir is not null)
            {
                Directory.CreateDirectory(folder);
            }
            else if (volume.PersistentVolumeClaim is { } claim)
            {
                if (!_claims.TryGetValue(claim.ClaimName, out folder!))
                {
                    SetPod(ns, run.PodName, p => p.Status.Conditions =
                        [new V1PodCondition { Type = "PodScheduled", Status = "False", Reason = "Unschedulable", Message = $"persistentvolumeclaim \"{claim.ClaimName}\" not found" }]);
                    await run.Stopped.Task;
                    return;
                }
            }
            else if (volume.Secret is { } secretSource)
            {
                var secret = await WaitForSecretAsync(ns, secretSource.SecretName, run);
                if (secret is null)
                {
                    return;
                }

                Directory.CreateDirectory(folder);
                var items = secretSource.Items?.Select(i => (i.Key, i.Path)) ?? (secret.Data ?? new Dictionary<string, byte[]>()).Keys.Select(k => (k, k));
                foreach (var (key, path) in items)
                {
                    if (secret.Data?.TryGetValue(key, out var bytes) != true)
                    {
                        SetWaiting(ns, run.PodName, container, "CreateContainerConfigError", $"couldn't find key {key} in Secret {ns}/{secretSource.SecretName}");
                        await run.Stopped.Task;
                        return;
                    }

                    var file = Path.Combine(folder, path);
                    await File.WriteAllBytesAsync(file, bytes!);
                    if (!OperatingSystem.IsWindows())
                    {
                        File.SetUnixFileMode(file, (UnixFileMode)(secretSource.DefaultMode ?? 0x1A4));
                    }
                }
            }
            else
            {
                throw new NotSupportedException($"The fake kubelet does not support volume {volume.Name}'s type.");
            }

            volumes[volume.Name] = folder;
        }

        if (!_images.TryGetValue(container.Image, out var image))
        {
            SetWaiting(ns, run.PodName, container, "ErrImagePull", $"failed to pull and unpack image \"{container.Image}\": not found");
            SetWaiting(ns, run.PodName, container, "ImagePullBackOff", $"Back-off pulling image \"{container.Image}\"");
            await run.Stopped.Task;
            return;
        }

        var user = container.SecurityContext?.RunAsUser ?? pod.Spec.SecurityContext?.RunAsUser ?? image.User;
        var group = container.SecurityContext?.RunAsGroup ?? pod.Spec.SecurityContext?.RunAsGroup ?? user;
        if ((container.SecurityContext?.RunAsNonRoot ?? pod.Spec.SecurityContext?.RunAsNonRoot) == true && user == 0)
        {
            SetWaiting(ns, run.PodName, container, "CreateContainerConfigError", "container has runAsNonRoot and image will run as root");
            await run.Stopped.Task;
            return;
        }

        // The image's filesystem: the host's system folders, read-only, and the image's own files.
        args.Add("--unshare-user");
        args.Add("--uid");
        args.Add(user.ToString(CultureInfo.InvariantCulture));
        args.Add("--gid");
        args.Add(group.ToString(CultureInfo.InvariantCulture));
        foreach (var folder in ImageFolders.Where(Directory.Exists))
        {
            args.Add("--ro-bind");
            args.Add(folder);
            args.Add(folder);
        }

        foreach (var link in new[] { "/bin", "/sbin", "/lib", "/lib64", "/lib32" })
        {
            if (new FileInfo(link).LinkTarget is { } target)
            {
                args.Add("--symlink");
                args.Add(target);
                args.Add(link);
            }
        }

        args.Add("--proc");
        args.Add("/proc");
        args.Add("--dev");
        args.Add("/dev");
        foreach (var (host, inImage) in image.Files)
        {
            args.Add("--ro-bind");
            args.Add(host);
            args.Add(inImage);
        }

        foreach (var mount in container.VolumeMounts ?? [])
        {
            args.Add(mount.ReadOnlyProperty == true ? "--ro-bind" : "--bind");
            args.Add(volumes[mount.Name]);
            args.Add(mount.MountPath);
        }

        if (container.SecurityContext?.ReadOnlyRootFilesystem == true)
        {
            args.Add("--remount-ro");
            args.Add("/");
        }

        // Only the image's and the container's environment.
        args.Add("--clearenv");
        var env = new Dictionary<string, string>(image.Env, StringComparer.Ordinal);
        foreach (var variable in container.Env ?? [])
        {
            if (variable.ValueFrom?.SecretKeyRef is { } reference)
            {
                var secret = await WaitForSecretAsync(ns, reference.Name, run);
                if (secret?.Data?.TryGetValue(reference.Key, out var bytes) != true)
                {
                    SetWaiting(ns, run.PodName, container, "CreateContainerConfigError", $"couldn't find key {reference.Key} in Secret {ns}/{reference.Name}");
                    await run.Stopped.Task;
                    return;
                }

                env[variable.Name] = Encoding.UTF8.GetString(bytes!);
            }
            else if (variable.ValueFrom is not null)
            {
                throw new NotSupportedException($"The fake kubelet does not support env {variable.Name}'s source.");
            }
            else
            {
                env[variable.Name] = variable.Value ?? "";
            }
        }

        foreach (var (name, value) in env)
        {
            args.Add("--setenv");
            args.Add(name);
            args.Add(value);
        }

        args.Add("--chdir");
        args.Add(container.WorkingDir ?? "/");
        args.Add("--");
        IEnumerable<string> entrypoint = container.Command is { Count: > 0 } command ? command : image.Entrypoint;
        foreach (var part in entrypoint.Concat(container.Args ?? []))
        {
            args.Add(part);
        }

        if (run.Fault != Fault.None)
        {
            return;
        }

        var process = Process.Start(startInfo)!;
        run.Process = process;
        process.StandardInput.Close(); // a container without stdin
        var log = new StreamWriter(run.LogFile, append: true) { AutoFlush = true };
        var pumps = Task.WhenAll(PumpAsync(process.StandardOutput, log), PumpAsync(process.StandardError, log));
        var startedAt = DateTime.UtcNow;
        SetPod(ns, run.PodName, p =>
        {
            p.Status.Phase = "Running";
            p.Status.StartTime = startedAt;
            p.Status.ContainerStatuses = [Status(container, new V1ContainerState { Running = new V1ContainerStateRunning { StartedAt = startedAt } }, ready: true)];
        });

        await process.WaitForExitAsync();
        await pumps;
        await log.DisposeAsync();
        run.Stopped.TrySetResult();
        var exitCode = process.ExitCode;
        switch (run.Fault)
        {
            case Fault.Deleted or Fault.DeadlineExceeded:
                return; // the pod is being deleted; its Job's fate is already written
            case Fault.OomKilled:
                Terminate(run, container, startedAt, 137, "OOMKilled", null, null);
                break;
            case Fault.Evicted:
                Terminate(run, container, startedAt, 137, "Error", "Evicted", run.Message);
                break;
            default:
                Terminate(run, container, startedAt, exitCode, exitCode == 0 ? "Completed" : "Error", null, null);
                break;
        }
    }

    private void Terminate(PodRun run, V1Container container, DateTime startedAt, int exitCode, string reason, string? podReason, string? podMessage)
    {
        var succeeded = exitCode == 0 && run.Fault == Fault.None;
        SetPod(run.Namespace, run.PodName, p =>
        {
            p.Status.Phase = succeeded ? "Succeeded" : "Failed";
            p.Status.Reason = podReason;
            p.Status.Message = podMessage;
            p.Status.ContainerStatuses =
            [
                Status(container, new V1ContainerState
                {
                    Terminated = new V1ContainerStateTerminated { ExitCode = exitCode, Reason = reason, StartedAt = startedAt, FinishedAt = DateTime.UtcNow },
                }, ready: false),
            ];
        });
        api.Update<V1Job>("jobs", run.Namespace, run.JobName, j => Finish(j, succeeded, "BackoffLimitExceeded", "Job has reached the specified backoff limit"));
    }

    private static void Finish(V1Job job, bool succeeded, string reason, string message)
    {
        if (job.Status.Conditions?.Any(c => c.Type is "Complete" or "Failed") == true)
        {
            return;
        }

        var now = DateTime.UtcNow;
        job.Status.Active = null;
        if (succeeded)
        {
            job.Status.Succeeded = 1;
            job.Status.CompletionTime = now;
            job.Status.Conditions =
            [
                new V1JobCondition { Type = "SuccessCriteriaMet", Status = "True", LastTransitionTime = now },
                new V1JobCondition { Type = "Complete", Status = "True", LastTransitionTime = now },
            ];
        }
        else
        {
            job.Status.Failed = 1;
            job.Status.Conditions =
            [
                new V1JobCondition { Type = "FailureTarget", Status = "True", Reason = reason, Message = message, LastTransitionTime = now },
                new V1JobCondition { Type = "Failed", Status = "True", Reason = reason, Message = message, LastTransitionTime = now },
            ];
        }
    }

    private async Task<V1Secret?> WaitForSecretAsync(string ns, string name, PodRun run)
    {
        // The kubelet retries a missing Secret (FailedMount) until it appears or the pod goes.
        while (run.Fault == Fault.None)
        {
            if (api.Get<V1Secret>("secrets", ns, name) is { } secret)
            {
                return secret;
            }

            await Task.WhenAny(run.Stopped.Task, Task.Delay(50));
        }

        return null;
    }

    private void SetPod(string ns, string podName, Action<V1Pod> change) => api.Update("pods", ns, podName, change);

    private void SetWaiting(string ns, string podName, V1Container container, string reason, string message) =>
        SetPod(ns, podName, p => p.Status.ContainerStatuses = [Status(container, new V1ContainerState { Waiting = new V1ContainerStateWaiting { Reason = reason, Message = message } }, ready: false)]);

    private static V1ContainerStatus Status(V1Container container, V1ContainerState state, bool ready) =>
        new() { Name = container.Name, Image = container.Image, ImageID = "", Ready = ready, RestartCount = 0, Started = state.Running is not null, State = state };

    private static async Task PumpAsync(StreamReader reader, StreamWriter log)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            lock (log)
            {
                log.WriteLine(line);
            }
        }
    }

    private static void Signal(int pid, string signal)
    {
        // The whole tree: bwrap does not forward signals to the container's processes.
        var targets = Descendants(pid).Prepend(pid).Select(p => p.ToString(CultureInfo.InvariantCulture));
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, .. targets]) { UseShellExecute = false, RedirectStandardError = true });
        kill?.WaitForExit();
    }

    private static IEnumerable<int> Descendants(int pid)
    {
        var parents = new Dictionary<int, int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), CultureInfo.InvariantCulture, out var child))
            {
                try
                {
                    var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                    var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                    parents[child] = int.Parse(fields[1], CultureInfo.InvariantCulture);
                }
                catch (IOException)
                {
                    // Gone meanwhile.
                }
            }
        }

        var found = new List<int>();
        var frontier = new Queue<int>([pid]);
        while (frontier.TryDequeue(out var current))
        {
            foreach (var child in parents.Where(p => p.Value == current).Select(p => p.Key))
            {
                found.Add(child);
                frontier.Enqueue(child);
            }
        }

        return found;
    }

    private static void Kill(Process? process)
    {
        try
        {
            process?.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    private sealed class PodRun(string ns, string jobName, string podName, string folder)
    {
        public string Namespace { get; } = ns;
        public string JobName { get; } = jobName;
        public string PodName { get; } = podName;
        public string Folder { get; } = folder;
        public string LogFile => Path.Combine(Folder, "container.log");
        public Process? Process { get; set; }
        public volatile Fault Fault;
        public string? Message { get; set; }
        /// <summary>The container stopped (or will never start): waits on a pending pod end with it.</summary>
        public TaskCompletionSource Stopped { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        /// <summary>Everything about the pod is reported.</summary>
        public TaskCompletionSource Finished { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
