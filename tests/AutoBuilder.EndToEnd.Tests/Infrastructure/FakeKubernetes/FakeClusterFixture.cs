using k8s.Models;

namespace AutoBuilder.EndToEnd.Tests.Infrastructure.FakeKubernetes;

/// <summary>
/// A fake cluster (<see cref="FakeKubernetesApi"/>) with the runner image and the cache claim a real deployment has,
/// and a real `autobuilder serve` whose executor is Kubernetes. The runner image is the CLI's own build output at /app,
/// with entrypoint `dotnet /app/autobuilder.dll` — what deploy/docker/runner.Dockerfile publishes.
/// </summary>
public sealed class FakeClusterFixture : IAsyncLifetime
{
    public const string Namespace = "auto-builder";
    public const string RunnerImage = "autobuilder/runner:test";
    /// <summary>The runner image configured for gradle builds, which the fake registry does not have.</summary>
    public const string MissingImage = "autobuilder/runner:missing";

    private readonly string _root = TestPaths.NewTempDirectory("k8s");

    public FakeKubernetesApi Cluster { get; private set; } = null!;

    public ServerProcess Server { get; private set; } = null!;

    /// <summary>The folder behind build-cache-pvc (/cache in every build).</summary>
    public string CacheVolume => Path.Combine(_root, "volumes", "build-cache-pvc");

    public string DataDirectory => Path.Combine(_root, "data");

    public IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        ["Executor:Kind"] = "Kubernetes",
        ["Kubernetes:ApiServer"] = Cluster.Url.ToString(),
        ["Kubernetes:Namespace"] = Namespace,
        ["Kubernetes:RunnerImage"] = RunnerImage,
        ["Kubernetes:RunnerImages:gradle"] = MissingImage,
        // The watch wakes the executor; the re-list is the safety net.
        ["Kubernetes:ResyncInterval"] = "00:00:05",
        // The seed's layout (components/shared-cache): a claim at /cache in every build, which these tests also use to
        // hand files to running builds. The operator's settings.xml lies on that share.
        ["Caches:Mode"] = "Shared",
        ["Kubernetes:CacheClaimName"] = "build-cache-pvc",
        ["Toolchains:Maven:SettingsFile"] = "/cache/maven/settings.xml",
        ["Dispatcher:MaxAttempts"] = "2",
    };

    public async Task InitializeAsync()
    {
        Cluster = await FakeKubernetesApi.StartAsync(Path.Combine(_root, "cluster"));
        var cliFolder = Path.GetDirectoryName(TestPaths.CliDll)!;
        var env = new Dictionary<string, string>
        {
            ["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ["HOME"] = "/tmp",
            ["LANG"] = "C.UTF-8",
        };
        if (Environment.GetEnvironmentVariable("JAVA_HOME") is { Length: > 0 } javaHome)
        {
            env["JAVA_HOME"] = javaHome;
        }

        Cluster.Kubelet.AddImage(new FakeImage(RunnerImage, ["/usr/bin/dotnet", "/app/autobuilder.dll"], env, User: 10001, new Dictionary<string, string> { [cliFolder] = "/app" }));
        Directory.CreateDirectory(Path.Combine(CacheVolume, "maven"));
        File.Copy(TestPaths.MavenSettings, Path.Combine(CacheVolume, "maven", "settings.xml"));
        Cluster.Kubelet.AddClaim("build-cache-pvc", CacheVolume);
        Server = await ServerProcess.StartAsync(DataDirectory, Settings);
    }

    /// <summary>
    /// The deployment's shape: an API process (which stays up) and a dispatcher process on one metadata store, build
    /// pods reaching the API at Dispatcher:ApiUrl. The caller disposes both.
    /// </summary>
    public async Task<(ServerProcess Api, ServerProcess Dispatcher)> StartSplitAsync()
    {
        var data = Path.Combine(_root, $"split-{Guid.NewGuid():N}");
        var api = await ServerProcess.StartAsync(data, Settings, role: "api");
        return (api, await StartDispatcherAsync(data, api.Url));
    }

    public Task<ServerProcess> StartDispatcherAsync(string dataDirectory, Uri apiUrl) =>
        ServerProcess.StartAsync(dataDirectory, new Dictionary<string, string>(Settings) { ["Dispatcher:ApiUrl"] = apiUrl.ToString() }, role: "dispatcher");

    public V1Job? JobOf(string buildId, int attempt = 1) =>
        Cluster.Get<V1Job>("jobs", Namespace, $"build-{buildId}-{attempt}");

    public IReadOnlyList<V1Job> JobsOf(string buildId) =>
        Cluster.List<V1Job>("jobs").Where(j => j.Metadata.Labels?["autobuilder.dev/build-id"] == buildId).ToList();

    /// <summary>Waits (bounded) until the build's Job has a running container.</summary>
    public async Task WaitForRunningPodAsync(string buildId, int attempt = 1)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        while (!Cluster.Kubelet.IsRunning($"build-{buildId}-{attempt}"))
        {
            await Task.Delay(100, timeout.Token);
        }
    }

    /// <summary>What a failing test shows: the server's output, every pod's status and its container's log.</summary>
    public string Diagnostics()
    {
        var text = new System.Text.StringBuilder().AppendLine("--- server ---").AppendLine(Server.Output);
        foreach (var pod in Cluster.List<V1Pod>("pods"))
        {
            text.AppendLine($"--- pod {pod.Metadata.Name}: {k8s.KubernetesJson.Serialize(pod.Status)}");
            if (Cluster.Kubelet.LogFile(pod.Metadata.Name) is { } log && File.Exists(log))
            {
                text.AppendLine(File.ReadAllText(log));
            }
        }

        return text.ToString();
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        await Cluster.DisposeAsync();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // Swept with the temp folder later.
        }
    }
}
