using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading.Channels;
using k8s;
using k8s.Models;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace AutoBuilder.EndToEnd.Tests.Infrastructure.FakeKubernetes;

/// <summary>
/// A small Kubernetes API server: create/get/list/watch/delete of Jobs, Pods and Secrets over plain HTTP, in the real
/// wire format (KubernetesClient's own models and serializer; Status objects for 404/409/422; resourceVersion;
/// newline-delimited watch streams). It validates names and labels as Kubernetes does, honours deletion propagation
/// (a Job deleted without a policy orphans its pod, as the real batch/v1 API does), garbage-collects owned Secrets,
/// and hands every new Job to its <see cref="FakeKubelet"/>, which runs the pod as a local process.
/// </summary>
public sealed partial class FakeKubernetesApi : IAsyncDisposable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<(string Resource, string Namespace, string Name), IKubernetesObject<V1ObjectMeta>> _objects = [];
    private readonly List<StoredEvent> _history = [];
    private readonly List<Watcher> _watchers = [];
    private readonly WebApplication _app;
    private long _resourceVersion = 100;

    private FakeKubernetesApi(WebApplication app, string root)
    {
        _app = app;
        Kubelet = new FakeKubelet(this, root);
    }

    public Uri Url { get; private set; } = null!;

    public FakeKubelet Kubelet { get; }

    /// <summary>Every request as "METHOD path?query", to check how a client used the API (watch, propagation).</summary>
    public List<string> Requests { get; } = [];

    public static async Task<FakeKubernetesApi> StartAsync(string root)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var api = new FakeKubernetesApi(app, root);
        api.Map(app);
        await app.StartAsync();
        api.Url = new Uri(app.Urls.First());
        return api;
    }

    public async ValueTask DisposeAsync()
    {
        lock (_lock)
        {
            foreach (var watcher in _watchers)
            {
                watcher.Channel.Writer.TryComplete();
            }
        }

        await Kubelet.DisposeAsync();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    // ---- the store, as the kubelet and tests see it -------------------------------------------------------------

    public IReadOnlyList<T> List<T>(string resource) where T : IKubernetesObject<V1ObjectMeta>
    {
        lock (_lock)
        {
            return _objects.Where(o => o.Key.Resource == resource).Select(o => Copy((T)o.Value)).ToList();
        }
    }

    public T? Get<T>(string resource, string ns, string name) where T : class, IKubernetesObject<V1ObjectMeta>
    {
        lock (_lock)
        {
            return _objects.TryGetValue((resource, ns, name), out var value) ? Copy((T)value) : null;
        }
    }

    /// <summary>Changes a stored object (status, deletion mark) and tells the watchers; false when it is gone.</summary>
    public bool Update<T>(string resource, string ns, string name, Action<T> change) where T : class, IKubernetesObject<V1ObjectMeta>
    {
        lock (_lock)
        {
            if (!_objects.TryGetValue((resource, ns, name), out var value))
            {
                return false;
            }

            change((T)value);
            Record(resource, "MODIFIED", value);
            return true;
        }
    }

    public void Add(string resource, IKubernetesObject<V1ObjectMeta> item)
    {
        lock (_lock)
        {
            var meta = item.Metadata;
            meta.Uid ??= Guid.NewGuid().ToString();
            meta.CreationTimestamp ??= DateTime.UtcNow;
            _objects[(resource, meta.NamespaceProperty, meta.Name)] = item;
            Record(resource, "ADDED", item);
        }
    }

    public bool Remove(string resource, string ns, string name)
    {
        lock (_lock)
        {
            if (!_objects.Remove((resource, ns, name), out var value))
            {
                return false;
            }

            Record(resource, "DELETED", value);
            return true;
        }
    }

    private void Record(string resource, string type, IKubernetesObject<V1ObjectMeta> item)
    {
        item.Metadata.ResourceVersion = (++_resourceVersion).ToString(CultureInfo.InvariantCulture);
        var line = $"{{\"type\":\"{type}\",\"object\":{KubernetesJson.Serialize(item)}}}\n";
        var stored = new StoredEvent(_resourceVersion, resource, item.Metadata.NamespaceProperty, item.Metadata.Name, new Dictionary<string, string>(item.Metadata.Labels ?? new Dictionary<string, string>()), line);
        _history.Add(stored);
        foreach (var watcher in _watchers.Where(w => w.Matches(stored)))
        {
            watcher.Channel.Writer.TryWrite(line);
        }
    }

    private static T Copy<T>(T item) => KubernetesJson.Deserialize<T>(KubernetesJson.Serialize(item));

    // ---- HTTP ---------------------------------------------------------------------------------------------------

    private void Map(WebApplication app)
    {
        app.Use(async (context, next) =>
        {
            lock (Requests)
            {
                Requests.Add($"{context.Request.Method} {context.Request.Path}{context.Request.QueryString}");
            }

            await next(context);
        });
        app.MapGet("/apis/batch/v1/namespaces/{ns}/jobs", (HttpContext c, string ns) => ListAsync<V1Job, V1JobList>(c, "jobs", ns, "batch/v1", "JobList"));
        app.MapPost("/apis/batch/v1/namespaces/{ns}/jobs", (HttpContext c, string ns) => CreateAsync<V1Job>(c, "jobs", ns));
        app.MapGet("/apis/batch/v1/namespaces/{ns}/jobs/{name}", (HttpContext c, string ns, string name) => GetAsync<V1Job>(c, "jobs", ns, name));
        app.MapDelete("/apis/batch/v1/namespaces/{ns}/jobs/{name}", (HttpContext c, string ns, string name) => DeleteJobAsync(c, ns, name));
        app.MapGet("/api/v1/namespaces/{ns}/pods", (HttpContext c, string ns) => ListAsync<V1Pod, V1PodList>(c, "pods", ns, "v1", "PodList"));
        app.MapGet("/api/v1/namespaces/{ns}/pods/{name}", (HttpContext c, string ns, string name) => GetAsync<V1Pod>(c, "pods", ns, name));
        app.MapGet("/api/v1/namespaces/{ns}/pods/{name}/log", (HttpContext c, string ns, string name) => LogAsync(c, ns, name));
        app.MapGet("/api/v1/namespaces/{ns}/secrets", (HttpContext c, string ns) => ListAsync<V1Secret, V1SecretList>(c, "secrets", ns, "v1", "SecretList"));
        app.MapPost("/api/v1/namespaces/{ns}/secrets", (HttpContext c, string ns) => CreateAsync<V1Secret>(c, "secrets", ns));
        app.MapGet("/api/v1/namespaces/{ns}/secrets/{name}", (HttpContext c, string ns, string name) => GetAsync<V1Secret>(c, "secrets", ns, name));
        app.MapDelete("/api/v1/namespaces/{ns}/secrets/{name}", (HttpContext c, string ns, string name) => DeleteSimpleAsync(c, "secrets", ns, name));
        app.MapFallback((HttpContext c) => StatusAsync(c, HttpStatusCode.NotFound, "NotFound", $"the server could not find the requested resource ({c.Request.Method} {c.Request.Path})"));
    }

    private async Task CreateAsync<T>(HttpContext context, string resource, string ns) where T : class, IKubernetesObject<V1ObjectMeta>
    {
        using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
        T item;
        try
        {
            item = KubernetesJson.Deserialize<T>(await reader.ReadToEndAsync());
        }
        catch (System.Text.Json.JsonException e)
        {
            await StatusAsync(context, HttpStatusCode.BadRequest, "BadRequest", $"the object provided is unrecognized: {e.Message}");
            return;
        }

        var kind = resource == "jobs" ? "Job.batch" : "Secret";
        var problems = Validation.Validate(item, ns);
        if (problems.Count > 0)
        {
            await StatusAsync(context, HttpStatusCode.UnprocessableEntity, "Invalid", $"{kind} \"{item.Metadata?.Name}\" is invalid: {string.Join(", ", problems)}");
            return;
        }

        item.Metadata.NamespaceProperty = ns;
        if (item is V1Secret secret && secret.StringData is { Count: > 0 } stringData)
        {
            // stringData is write-only: the API server merges it into data.
            secret.Data ??= new Dictionary<string, byte[]>();
            foreach (var (key, value) in stringData)
            {
                secret.Data[key] = Encoding.UTF8.GetBytes(value);
            }

            secret.StringData = null;
        }

        if (item is V1Job job)
        {
            // As the Job controller does: a selector on the generated controller-uid, and the job-name labels.
            job.Metadata.Uid = Guid.NewGuid().ToString();
            var labels = job.Spec.Template.Metadata.Labels ??= new Dictionary<string, string>();
            labels["batch.kubernetes.io/controller-uid"] = labels["controller-uid"] = job.Metadata.Uid;
            labels["batch.kubernetes.io/job-name"] = labels["job-name"] = job.Metadata.Name;
            job.Spec.Selector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["batch.kubernetes.io/controller-uid"] = job.Metadata.Uid } };
            job.Status = new V1JobStatus();
        }

        bool exists;
        lock (_lock)
        {
            exists = _objects.ContainsKey((resource, ns, item.Metadata.Name));
            if (!exists)
            {
                Add(resource, item);
            }
        }

        if (exists)
        {
            await StatusAsync(context, HttpStatusCode.Conflict, "AlreadyExists", $"{resource}{(resource == "jobs" ? ".batch" : "")} \"{item.Metadata.Name}\" already exists");
            return;
        }

        if (item is V1Job created)
        {
            Kubelet.Start(created.Metadata.NamespaceProperty, created.Metadata.Name);
        }

        await WriteAsync(context, HttpStatusCode.Created, Get<T>(resource, ns, item.Metadata.Name)!);
    }

    private async Task GetAsync<T>(HttpContext context, string resource, string ns, string name) where T : class, IKubernetesObject<V1ObjectMeta>
    {
        if (Get<T>(resource, ns, name) is { } item)
        {
            await WriteAsync(context, HttpStatusCode.OK, item);
        }
        else
        {
            await NotFoundAsync(context, resource, name);
        }
    }

    private async Task ListAsync<T, TList>(HttpContext context, string resource, string ns, string apiVersion, string kind)
        where T : class, IKubernetesObject<V1ObjectMeta>
        where TList : IKubernetesObject<V1ListMeta>, IItems<T>, new()
    {
        var query = context.Request.Query;
        Selector selector;
        try
        {
            selector = Selector.Parse(query["labelSelector"], query["fieldSelector"]);
        }
        catch (FormatException e)
        {
            await StatusAsync(context, HttpStatusCode.BadRequest, "BadRequest", e.Message);
            return;
        }

        if (query["watch"] is { Count: > 0 } watch && watch[0] is "true" or "1")
        {
            await WatchAsync<T>(context, resource, ns, selector);
            return;
        }

        List<T> items;
        long version;
        lock (_lock)
        {
            items = _objects.Where(o => o.Key.Resource == resource && o.Key.Namespace == ns && selector.Matches(o.Value.Metadata.Name, o.Value.Metadata.Labels))
                .Select(o => Copy((T)o.Value)).ToList();
            version = _resourceVersion;
        }

        var list = new TList { ApiVersion = apiVersion, Kind = kind, Metadata = new V1ListMeta { ResourceVersion = version.ToString(CultureInfo.InvariantCulture) }, Items = items };
        await WriteAsync(context, HttpStatusCode.OK, list);
    }

    /// <summary>
    /// A watch: from a resourceVersion, the events after it; without one, ADDED for what exists now; then every change
    /// until timeoutSeconds, one JSON event per line.
    /// </summary>
    private async Task WatchAsync<T>(HttpContext context, string resource, string ns, Selector selector) where T : class, IKubernetesObject<V1ObjectMeta>
    {
        var query = context.Request.Query;
        var timeout = int.TryParse(query["timeoutSeconds"], CultureInfo.InvariantCulture, out var seconds) ? TimeSpan.FromSeconds(seconds) : TimeSpan.FromMinutes(30);
        var watcher = new Watcher(resource, ns, selector, Channel.CreateUnbounded<string>());
        lock (_lock)
        {
            if (long.TryParse(query["resourceVersion"], CultureInfo.InvariantCulture, out var from) && from > 0)
            {
                foreach (var stored in _history.Where(e => e.ResourceVersion > from && watcher.Matches(e)))
                {
                    watcher.Channel.Writer.TryWrite(stored.Line);
                }
            }
            else
            {
                foreach (var item in _objects.Where(o => o.Key.Resource == resource && o.Key.Namespace == ns && selector.Matches(o.Value.Metadata.Name, o.Value.Metadata.Labels)))
                {
                    watcher.Channel.Writer.TryWrite($"{{\"type\":\"ADDED\",\"object\":{KubernetesJson.Serialize(item.Value)}}}\n");
                }
            }

            _watchers.Add(watcher);
        }

        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json";
        await context.Response.StartAsync();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        stop.CancelAfter(timeout);
        try
        {
            await foreach (var line in watcher.Channel.Reader.ReadAllAsync(stop.Token))
            {
                await context.Response.WriteAsync(line, stop.Token);
                await context.Response.Body.FlushAsync(stop.Token);
            }
        }
        catch (OperationCanceledException)
        {
            // timeoutSeconds passed or the client left: the stream ends, as the real server's does.
        }
        finally
        {
            lock (_lock)
            {
                _watchers.Remove(watcher);
            }
        }
    }

    private async Task DeleteJobAsync(HttpContext context, string ns, string name)
    {
        var policy = await PropagationPolicyAsync(context);
        var job = Get<V1Job>("jobs", ns, name);
        if (job is null)
        {
            await NotFoundAsync(context, "jobs", name);
            return;
        }

        switch (policy)
        {
            case "Foreground":
                // The Job stays, marked, until its pods are gone; then it and what it owns go.
                Update<V1Job>("jobs", ns, name, j =>
                {
                    j.Metadata.DeletionTimestamp ??= DateTime.UtcNow;
                    j.Metadata.Finalizers = ["foregroundDeletion"];
                });
                _ = Task.Run(async () =>
                {
                    await Kubelet.DeletePodsOfAsync(job);
                    CollectDependents(job);
                    Remove("jobs", ns, name);
                });
                break;
            case "Background":
                Remove("jobs", ns, name);
                _ = Task.Run(async () =>
                {
                    await Kubelet.DeletePodsOfAsync(job);
                    CollectDependents(job);
                });
                break;
            default:
                // batch/v1's default for API clients is Orphan: the pod (and the build in it) keeps running.
                Remove("jobs", ns, name);
                Orphan(job);
                break;
        }

        await WriteAsync(context, HttpStatusCode.OK, Get<V1Job>("jobs", ns, name) ?? job);
    }

    private async Task DeleteSimpleAsync(HttpContext context, string resource, string ns, string name)
    {
        var item = Get<V1Secret>(resource, ns, name);
        if (item is null || !Remove(resource, ns, name))
        {
            await NotFoundAsync(context, resource, name);
            return;
        }

        await WriteAsync(context, HttpStatusCode.OK, item);
    }

    private void CollectDependents(V1Job owner)
    {
        foreach (var secret in List<V1Secret>("secrets").Where(s => s.Metadata.OwnerReferences?.Any(r => r.Uid == owner.Metadata.Uid) == true))
        {
            Remove("secrets", secret.Metadata.NamespaceProperty, secret.Metadata.Name);
        }
    }

    private void Orphan(V1Job owner)
    {
        foreach (var pod in List<V1Pod>("pods").Where(p => p.Metadata.OwnerReferences?.Any(r => r.Uid == owner.Metadata.Uid) == true))
        {
            Update<V1Pod>("pods", pod.Metadata.NamespaceProperty, pod.Metadata.Name, p => p.Metadata.OwnerReferences = null);
        }

        foreach (var secret in List<V1Secret>("secrets").Where(s => s.Metadata.OwnerReferences?.Any(r => r.Uid == owner.Metadata.Uid) == true))
        {
            Update<V1Secret>("secrets", secret.Metadata.NamespaceProperty, secret.Metadata.Name, s => s.Metadata.OwnerReferences = null);
        }
    }

    private static async Task<string?> PropagationPolicyAsync(HttpContext context)
    {
        if (context.Request.Query["propagationPolicy"] is { Count: > 0 } policy)
        {
            return policy[0];
        }

        using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync();
        return string.IsNullOrWhiteSpace(body) ? null : KubernetesJson.Deserialize<V1DeleteOptions>(body).PropagationPolicy;
    }

    private async Task LogAsync(HttpContext context, string ns, string name)
    {
        if (Get<V1Pod>("pods", ns, name) is null || Kubelet.LogFile(name) is not { } file || !File.Exists(file))
        {
            await NotFoundAsync(context, "pods", name);
            return;
        }

        var lines = await File.ReadAllLinesAsync(file);
        if (int.TryParse(context.Request.Query["tailLines"], CultureInfo.InvariantCulture, out var tail))
        {
            lines = lines.TakeLast(tail).ToArray();
        }

        context.Response.ContentType = "text/plain";
        await context.Response.WriteAsync(string.Concat(lines.Select(l => l + "\n")));
    }

    private static Task NotFoundAsync(HttpContext context, string resource, string name) =>
        StatusAsync(context, HttpStatusCode.NotFound, "NotFound", $"{resource}{(resource == "jobs" ? ".batch" : "")} \"{name}\" not found");

    private static Task StatusAsync(HttpContext context, HttpStatusCode code, string reason, string message) =>
        WriteAsync(context, code, new V1Status { ApiVersion = "v1", Kind = "Status", Status = "Failure", Reason = reason, Message = message, Code = (int)code });

    private static async Task WriteAsync(HttpContext context, HttpStatusCode code, object body)
    {
        context.Response.StatusCode = (int)code;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(KubernetesJson.Serialize(body));
    }

    private sealed record StoredEvent(long ResourceVersion, string Resource, string Namespace, string Name, IDictionary<string, string> Labels, string Line);

    private sealed record Watcher(string Resource, string Namespace, Selector Selector, Channel<string> Channel)
    {
        public bool Matches(StoredEvent e) => e.Resource == Resource && e.Namespace == Namespace && Selector.Matches(e.Name, e.Labels);
    }

    /// <summary>Equality-based label selectors (k=v, k==v, k!=v, k, !k) and the metadata.name field selector.</summary>
    private sealed record Selector(IReadOnlyList<Func<IDictionary<string, string>, bool>> Labels, string? Name)
    {
        public static Selector Parse(string? labels, string? fields)
        {
            var tests = new List<Func<IDictionary<string, string>, bool>>();
            foreach (var term in (labels ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var parts = term.Split("!=", 2);
                if (parts.Length == 2)
                {
                    tests.Add(l => !l.TryGetValue(parts[0], out var v) || v != parts[1]);
                    continue;
                }

                parts = term.Contains("==", StringComparison.Ordinal) ? term.Split("==", 2) : term.Split('=', 2);
                if (parts.Length == 2)
                {
                    if (!Validation.IsLabelValue(parts[1]))
                    {
                        throw new FormatException($"unable to parse requirement: invalid label value: \"{parts[1]}\"");
                    }

                    tests.Add(l => l.TryGetValue(parts[0], out var v) && v == parts[1]);
                }
                else if (term.StartsWith('!'))
                {
                    tests.Add(l => !l.ContainsKey(term[1..]));
                }
                else
                {
                    tests.Add(l => l.ContainsKey(term));
                }
            }

            string? name = null;
            foreach (var term in (fields ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                name = term.StartsWith("metadata.name=", StringComparison.Ordinal)
                    ? term["metadata.name=".Length..]
                    : throw new FormatException($"field label not supported: {term}");
            }

            return new Selector(tests, name);
        }

        public bool Matches(string name, IDictionary<string, string>? labels) =>
            (Name is null || Name == name) && Labels.All(t => t(labels ?? new Dictionary<string, string>()));
    }
}
