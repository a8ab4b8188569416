using System.Collections.Concurrent;
using System.Net;
using AutoBuilder.Core.Execution;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AutoBuilder.Server.Executors.Kubernetes;

/// <summary>
/// Runs each build attempt as its own Kubernetes Job (see <see cref="BuildJobFactory"/>). Two watches — Jobs and
/// pods carrying AutoBuilder's build labels — wake the attempt they concern; each attempt then reads its Job and pod
/// and decides (<see cref="JobOutcome"/>). A periodic re-list covers dropped watches. Cancel deletes the Job with
/// foreground propagation; after a restart a Job still running is found by name and labels and adopted.
/// </summary>
public sealed class KubernetesJobExecutor : IBuildExecutor, IAsyncDisposable
{
    private readonly IKubernetes _client;
    private readonly BuildJobFactory _factory;
    private readonly TimeProvider _time;
    private readonly ILogger<KubernetesJobExecutor> _logger;
    private readonly ConcurrentDictionary<string, JobExecution> _executions = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _watchLock = new();
    private Task[]? _watches;

    public KubernetesJobExecutor(IOptions<KubernetesExecutorOptions> options, TimeProvider time, ILogger<KubernetesJobExecutor> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        var value = options.Value;
        var config = value.ApiServer is { } server
            ? new KubernetesClientConfiguration { Host = server.ToString() }
            : KubernetesClientConfiguration.BuildDefaultConfig();
        value.Namespace ??= config.Namespace ?? "auto-builder";
        _client = new k8s.Kubernetes(config);
        _factory = new BuildJobFactory(value);
        _time = time;
        _logger = logger;
    }

    private string Namespace => _factory.Namespace;

    /// <summary>A Job runs on without its dispatcher; the next one adopts it.</summary>
    public bool AttemptsOutliveDispatcher => true;

    public async Task<IBuildExecution> StartAsync(BuildLaunch launch, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(launch);
        EnsureWatching();
        V1Job job;
        try
        {
            job = await _client.BatchV1.CreateNamespacedJobAsync(_factory.Job(launch), Namespace, cancellationToken: cancellationToken);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            // This very attempt's Job exists (a start interrupted after creating it): follow it, never start a second.
            return await TryAdoptAsync(launch, cancellationToken)
                   ?? throw new InvalidOperationException($"Job {BuildJobFactory.JobName(launch.BuildId, launch.Attempt)} exists but cannot be followed.", e);
        }
        catch (HttpOperationException e)
        {
            throw new InvalidOperationException($"Kubernetes refused the build's Job: {Explain(e)}", e);
        }

        try
        {
            // Owned by the Job: deleting the Job (or its TTL) deletes the token with it.
            await _client.CoreV1.CreateNamespacedSecretAsync(_factory.Secret(launch, job), Namespace, cancellationToken: cancellationToken);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode != HttpStatusCode.Conflict)
        {
            await DeleteJobQuietlyAsync(job.Metadata.Name);
            throw new InvalidOperationException($"Kubernetes refused the build's token Secret: {Explain(e)}", e);
        }

        return Follow(launch);
    }

    public async Task<IBuildExecution?> TryAdoptAsync(BuildLaunch launch, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(launch);
        EnsureWatching();
        V1Job job;
        try
        {
            job = await _client.BatchV1.ReadNamespacedJobAsync(BuildJobFactory.JobName(launch.BuildId, launch.Attempt), Namespace, cancellationToken: cancellationToken);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        if (job.Metadata.Labels?.TryGetValue(BuildJobFactory.BuildIdLabel, out var labelled) != true || labelled != launch.BuildId || job.Metadata.DeletionTimestamp is not null)
        {
            return null;
        }

        _logger.LogInformation("Adopting Job {Job} of build {BuildId}", job.Metadata.Name, launch.BuildId);
        return Follow(launch);
    }

    private JobExecution Follow(BuildLaunch launch)
    {
        var execution = new JobExecution(this, launch);
        _executions[execution.JobName] = execution;
        execution.Begin();
        return execution;
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        if (_watches is { } watches)
        {
            await Task.WhenAll(watches).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        _stopping.Dispose();
        _client.Dispose();
    }

    private void EnsureWatching()
    {
        lock (_watchLock)
        {
            _watches ??=
            [
                Task.Run(() => WatchAsync<V1Job>(
                    (rv, ct) => _client.BatchV1.WatchListNamespacedJobAsync(Namespace, labelSelector: BuildJobFactory.BuildSelector, resourceVersion: rv, timeoutSeconds: 300, cancellationToken: ct),
                    job => job.Metadata?.Name)),
                Task.Run(() => WatchAsync<V1Pod>(
                    (rv, ct) => _client.CoreV1.WatchListNamespacedPodAsync(Namespace, labelSelector: BuildJobFactory.BuildSelector, resourceVersion: rv, timeoutSeconds: 300, cancellationToken: ct),
                    pod => pod.Metadata?.Labels is { } l && l.TryGetValue(BuildJobFactory.BuildIdLabel, out var id) && l.TryGetValue(BuildJobFactory.AttemptLabel, out var attempt)
                        && int.TryParse(attempt, System.Globalization.CultureInfo.InvariantCulture, out var n) ? BuildJobFactory.JobName(id, n) : null)),
            ];
        }
    }

    /// <summary>Follows one kind of object; each event wakes the attempt it belongs to. Reconnects from the last resourceVersion.</summary>
    private async Task WatchAsync<T>(Func<string?, CancellationToken, IAsyncEnumerable<(WatchEventType, T)>> watch, Func<T, string?> jobNameOf)
        where T : IKubernetesObject<V1ObjectMeta>
    {
        var token = _stopping.Token;
        string? resourceVersion = null;
        while (!token.IsCancellationRequested)
        {
            try
            {
                await foreach (var (type, item) in watch(resourceVersion, token))
                {
                    if (type == WatchEventType.Error)
                    {
                        resourceVersion = null; // e.g. 410 Gone: start again from now; the re-list catches up
                        break;
                    }

                    resourceVersion = item.Metadata?.ResourceVersion ?? resourceVersion;
                    if (jobNameOf(item) is { } name && _executions.TryGetValue(name, out var execution))
                    {
                        execution.Wake();
                    }
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is HttpOperationException or HttpRequestException or IOException or System.Text.Json.JsonException or KubernetesException)
            {
                _logger.LogWarning("Watch of {Kind} broke ({Message}); re-listing and watching again", typeof(T).Name, e.Message);
                resourceVersion = null;
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), _time, token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }

            foreach (var execution in _executions.Values)
            {
                execution.Wake();
            }
        }
    }

    private async Task DeleteJobQuietlyAsync(string name)
    {
        try
        {
            // Foreground: the Job goes only after its pod is gone, so "deleted" means the build has stopped.
            await _client.BatchV1.DeleteNamespacedJobAsync(name, Namespace, new V1DeleteOptions { PropagationPolicy = "Foreground" }, propagationPolicy: "Foreground");
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            // Already gone.
        }
    }

    private static string Explain(HttpOperationException e) =>
        $"{(int)e.Response.StatusCode} {e.Response.ReasonPhrase}: {TryStatusMessage(e.Response.Content) ?? e.Message}";

    private static string? TryStatusMessage(string? content)
    {
        try
        {
            return content is null ? null : KubernetesJson.Deserialize<V1Status>(content)?.Message;
        }
        catch (System.Text.Json.JsonException)
        {
            return content;
        }
    }

    /// <summary>One attempt's Job, followed until it ends.</summary>
    private sealed class JobExecution(KubernetesJobExecutor executor, BuildLaunch launch) : IBuildExecution
    {
        private readonly SemaphoreSlim _wake = new(0, 1);
        private readonly CancellationTokenSource _disposed = new();
        private string? _stopReason;
        private DateTimeOffset? _pendingSince;
        private int _disposing;
        private Task<ExecutionExit> _completion = null!;

        public string JobName { get; } = BuildJobFactory.JobName(launch.BuildId, launch.Attempt);

        public string BuildId => launch.BuildId;

        public int Attempt => launch.Attempt;

        public Task<ExecutionExit> Completion => _completion;

        public void Begin() => _completion = FollowAsync();

        public void Wake()
        {
            try
            {
                _wake.Release();
            }
            catch (SemaphoreFullException)
            {
                // Already awake.
            }
            catch (ObjectDisposedException)
            {
                // Finished.
            }
        }

        public async Task StopAsync(string reason, CancellationToken cancellationToken = default)
        {
            executor._logger.LogInformation("Stopping Job {Job} of build {BuildId}: {Reason}", JobName, BuildId, reason);
            _stopReason ??= reason;
            await executor.DeleteJobQuietlyAsync(JobName);
            Wake();
        }

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposing, 1) == 1)
            {
                return;
            }

            await _disposed.CancelAsync();
            await ((Task)_completion).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            executor._executions.TryRemove(new KeyValuePair<string, JobExecution>(JobName, this));
            _wake.Dispose();
            _disposed.Dispose();
        }

        private async Task<ExecutionExit> FollowAsync()
        {
            var client = executor._client;
            var ns = executor.Namespace;
            var options = executor._factory.Options;
            var podSelector = $"{BuildJobFactory.BuildIdLabel}={launch.BuildId},{BuildJobFactory.AttemptLabel}={launch.Attempt.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
            while (true)
            {
                try
                {
                    V1Job job;
                    try
                    {
                        job = await client.BatchV1.ReadNamespacedJobAsync(JobName, ns, cancellationToken: _disposed.Token);
                    }
                    catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
                    {
                        return new ExecutionExit(null, _stopReason is { } reason ? $"stopped: {reason}" : $"the Job {JobName} was deleted outside AutoBuilder");
                    }

                    if (_stopReason is null)
                    {
                        var pods = (await client.CoreV1.ListNamespacedPodAsync(ns, labelSelector: podSelector, cancellationToken: _disposed.Token)).Items.ToList();
                        if (JobOutcome.Evaluate(job, pods, options) is { } exit)
                        {
                            if (!JobOutcome.HasEnded(job, pods))
                            {
                                // Given up while the pod waits (image pull, configuration): nothing may start it later.
                                _stopReason = exit.Error;
                                await executor.DeleteJobQuietlyAsync(JobName);
                            }

                            return await WithDiagnosticsAsync(exit, pods);
                        }

                        if (await GiveUpWaitingAsync(pods) is { } gaveUp)
                        {
                            return gaveUp;
                        }
                    }
                }
                catch (Exception e) when (e is HttpOperationException or HttpRequestException or IOException or System.Text.Json.JsonException)
                {
                    // The API server may be briefly unreachable: the build goes on without us; look again shortly.
                    executor._logger.LogWarning("Could not read Job {Job}: {Message}", JobName, e.Message);
                }

                try
                {
                    await _wake.WaitAsync(options.ResyncInterval, _disposed.Token);
                }
                catch (OperationCanceledException)
                {
                    return new ExecutionExit(null, "no longer followed (the dispatcher is stopping)");
                }
            }
        }

        /// <summary>A pod that cannot be scheduled for too long ends the attempt (deleting its Job) as an infrastructure failure.</summary>
        private async Task<ExecutionExit?> GiveUpWaitingAsync(IReadOnlyList<V1Pod> pods)
        {
            (var gaveUp, _pendingSince) = JobOutcome.WaitForScheduling(pods, _pendingSince, executor._time.GetUtcNow(), executor._factory.Options.MaxPendingTime);
            if (gaveUp is null)
            {
                return null;
            }

            _stopReason = "could not be scheduled";
            await executor.DeleteJobQuietlyAsync(JobName);
            return gaveUp;
        }

        /// <summary>A runner that failed before completing its build explains itself in its last log lines.</summary>
        private async Task<ExecutionExit> WithDiagnosticsAsync(ExecutionExit exit, IReadOnlyList<V1Pod> pods)
        {
            if (exit.ExitCode is null or 0 || exit.Error is { Length: > 0 } || pods.Count == 0)
            {
                return exit;
            }

            try
            {
                await using var log = await executor._client.CoreV1.ReadNamespacedPodLogAsync(pods[0].Metadata.Name, executor.Namespace, container: BuildJobFactory.ContainerName, tailLines: 3);
                using var reader = new StreamReader(log);
                var lines = (await reader.ReadToEndAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                return exit with { Error = lines.Length == 0 ? null : string.Join(" | ", lines) };
            }
            catch (Exception e) when (e is HttpOperationException or HttpRequestException or IOException)
            {
                return exit;
            }
        }
    }
}
