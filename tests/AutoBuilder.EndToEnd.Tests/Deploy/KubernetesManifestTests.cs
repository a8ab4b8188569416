using AutoBuilder.Core.Execution;
using AutoBuilder.EndToEnd.Tests.Infrastructure;
using AutoBuilder.Server.Executors.Kubernetes;
using k8s;
using k8s.Models;

namespace AutoBuilder.EndToEnd.Tests.Deploy;

/// <summary>deploy/kubernetes renders with kustomize (kubectl, no cluster needed) into objects KubernetesClient reads.</summary>
public sealed class KubernetesManifestTests
{
    [Fact]
    public async Task Kustomize_AzureOverlay_RendersTheDeploymentAsKubernetesObjects()
    {
        var result = await ToolProcess.RunAsync("kubectl", ["kustomize", "deploy/kubernetes/overlays/azure"]);
        Assert.True(result.ExitCode == 0, result.Stderr);

        var objects = KubernetesYaml.LoadAllFromString(result.Stdout, new Dictionary<string, Type> { ["keda.sh/v1alpha1/ScaledObject"] = typeof(ScaledObject) });
        Assert.All(objects.OfType<IKubernetesObject<V1ObjectMeta>>().Where(o => o is not V1Namespace), o => Assert.Equal("auto-builder", o.Metadata.NamespaceProperty));
        Assert.Equal("auto-builder", Assert.Single(objects.OfType<V1Namespace>()).Metadata.Name);

        var deployments = objects.OfType<V1Deployment>().ToDictionary(d => d.Metadata.Name);
        var api = deployments["autobuilder-api"];
        Assert.Equal(2, api.Spec.Replicas);
        var apiContainer = Assert.Single(api.Spec.Template.Spec.Containers);
        Assert.Equal("/healthz", apiContainer.LivenessProbe.HttpGet.Path);
        Assert.Equal("/readyz", apiContainer.ReadinessProbe.HttpGet.Path);
        Assert.Contains("api", apiContainer.Args);
        Assert.Equal("autobuilder-api", Assert.Single(objects.OfType<V1Service>()).Metadata.Name);

        var dispatcher = deployments["autobuilder-dispatcher"];
        Assert.Equal("autobuilder-dispatcher", dispatcher.Spec.Template.Spec.ServiceAccountName);
        Assert.Contains("dispatcher", Assert.Single(dispatcher.Spec.Template.Spec.Containers).Args);
        Assert.All(deployments.Values, d => Assert.True(d.Spec.Template.Spec.SecurityContext.RunAsNonRoot));

        // The dispatcher's Role: Jobs, Pods, Pods/log and Secrets in its namespace, nothing else.
        var role = Assert.Single(objects.OfType<V1Role>());
        Assert.Equal(["jobs", "pods", "pods/log", "secrets"], role.Rules.SelectMany(r => r.Resources).Order());
        Assert.Empty(objects.OfType<V1ClusterRole>());
        Assert.Equal("autobuilder-dispatcher", Assert.Single(Assert.Single(objects.OfType<V1RoleBinding>()).Subjects).Name);

        var config = Assert.Single(objects.OfType<V1ConfigMap>()).Data;
        Assert.True(config.ContainsKey("AZURE_STORAGE_ACCOUNT_NAME"));
        Assert.Equal("uploads", config["Storage__Containers__Uploads"]);
        Assert.Equal("Kubernetes", config["Executor__Kind"]);
        Assert.Equal("4Gi", config["Kubernetes__Limits__Memory"]);
        Assert.Equal("Off", config["Sandbox__Mode"]);

        var secret = Assert.Single(objects.OfType<V1Secret>());
        Assert.All(secret.StringData.Values, v => Assert.Contains("REPLACE", v, StringComparison.Ordinal));

        // Keyed caches by default: no shared volume at all (components/shared-cache adds one for Caches:Mode=Shared).
        Assert.Equal("Keyed", config["Caches__Mode"]);
        Assert.False(config.ContainsKey("Kubernetes__CacheClaimName"));
        Assert.Empty(objects.OfType<V1PersistentVolumeClaim>());

        Assert.Equal(1, Assert.Single(objects.OfType<V1PodDisruptionBudget>()).Spec.MinAvailable.Value is var min && int.TryParse(min, out var n) ? n : -1);
        var scaled = Assert.Single(objects.OfType<ScaledObject>());
        Assert.Contains("autobuilder_queue_depth", System.Text.Json.JsonSerializer.Serialize(scaled.Spec), StringComparison.Ordinal);

        // The overlay uses the workload identity, never an account key.
        Assert.Contains("azure.workload.identity/use", result.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("AccountKey", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Kustomize_SharedCacheComponent_AddsTheClaimAndSwitchesTheMode()
    {
        // An overlay of the operator's own, next to the shipped ones, that adds the component.
        var copy = TestPaths.NewTempDirectory("kustomize");
        CopyFolder(Path.Combine(TestPaths.RepoRoot, "deploy", "kubernetes"), copy);
        var overlay = Path.Combine(copy, "overlays", "shared");
        Directory.CreateDirectory(overlay);
        await File.WriteAllTextAsync(Path.Combine(overlay, "kustomization.yaml"), """
            apiVersion: kustomize.config.k8s.io/v1beta1
            kind: Kustomization
            resources:
              - ../azure
            components:
              - ../../components/shared-cache
            """);

        var result = await ToolProcess.RunAsync("kubectl", ["kustomize", overlay]);

        Assert.True(result.ExitCode == 0, result.Stderr);
        var objects = KubernetesYaml.LoadAllFromString(result.Stdout, new Dictionary<string, Type> { ["keda.sh/v1alpha1/ScaledObject"] = typeof(ScaledObject) });
        var config = Assert.Single(objects.OfType<V1ConfigMap>()).Data;
        Assert.Equal("Shared", config["Caches__Mode"]);
        var pvc = Assert.Single(objects.OfType<V1PersistentVolumeClaim>());
        Assert.Equal(config["Kubernetes__CacheClaimName"], pvc.Metadata.Name);
        Assert.Equal("auto-builder", pvc.Metadata.NamespaceProperty);
        Assert.Equal(["ReadWriteMany"], pvc.Spec.AccessModes);
        Assert.Equal("azurefile-csi-premium", pvc.Spec.StorageClassName);
        Assert.Equal("20Gi", pvc.Spec.Resources.Requests["storage"].ToString());
    }

    /// <summary>
    /// The build pods' NetworkPolicy, as rendered: it selects exactly the pods BuildJobFactory makes (in the namespace
    /// the dispatcher puts them), refuses all ingress, and lets them reach only kube-dns, the API pods on the port the
    /// runner's Dispatcher__ApiUrl leads to, and the internet without the private and link-local ranges.
    /// </summary>
    [Theory]
    [InlineData("deploy/kubernetes/base")]
    [InlineData("deploy/kubernetes/overlays/azure")]
    public async Task Kustomize_BuildPodsNetworkPolicy_RefusesIngress_AndEgressReachesOnlyDnsTheApiAndTheInternet(string directory)
    {
        var result = await ToolProcess.RunAsync("kubectl", ["kustomize", directory]);
        Assert.True(result.ExitCode == 0, result.Stderr);
        var objects = KubernetesYaml.LoadAllFromString(result.Stdout, new Dictionary<string, Type> { ["keda.sh/v1alpha1/ScaledObject"] = typeof(ScaledObject) });

        // Build pods as the executor makes them, from the deployment's own configuration.
        var config = Assert.Single(objects.OfType<V1ConfigMap>()).Data;
        var apiUrl = new Uri(config["Dispatcher__ApiUrl"]);
        var factory = new BuildJobFactory(new KubernetesExecutorOptions { Namespace = config["Kubernetes__Namespace"] });
        var buildPods = new[]
        {
            factory.Job(Launch("shop-api", "maven")),
            factory.Job(Launch("legacy-import-", toolchain: null)), // a hashed project label, no toolchain label
        }.Select(j => j.Spec.Template.Metadata.Labels).ToList();
        var deployments = objects.OfType<V1Deployment>().ToDictionary(d => d.Metadata.Name);
        var apiPod = deployments["autobuilder-api"].Spec.Template.Metadata.Labels;
        var dispatcherPod = deployments["autobuilder-dispatcher"].Spec.Template.Metadata.Labels;

        var policies = objects.OfType<V1NetworkPolicy>().ToList();
        Assert.True(
            policies.Any(p => p.Metadata.NamespaceProperty == factory.Namespace && buildPods.Any(b => Selects(p.Spec.PodSelector, b))),
            $"no NetworkPolicy in namespace {factory.Namespace} selects the build pods ({string.Join(",", buildPods[0].Select(l => $"{l.Key}={l.Value}"))}); policies: {string.Join(", ", policies.Select(p => p.Metadata.Name))}");
        var policy = Assert.Single(policies, p => p.Metadata.NamespaceProperty == factory.Namespace && buildPods.Any(b => Selects(p.Spec.PodSelector, b)));
        Assert.All(buildPods, b => Assert.True(Selects(policy.Spec.PodSelector, b), $"the policy does not select a build pod labelled {string.Join(",", b.Select(l => $"{l.Key}={l.Value}"))}"));
        Assert.False(Selects(policy.Spec.PodSelector, apiPod), "the build policy must not select the API pods");
        Assert.False(Selects(policy.Spec.PodSelector, dispatcherPod), "the build policy must not select the dispatcher pods");

        // No ingress at all: Ingress is a policy type and there is no ingress rule.
        Assert.Equal(["Egress", "Ingress"], policy.Spec.PolicyTypes.Order(StringComparer.Ordinal));
        Assert.Empty(policy.Spec.Ingress ?? []);

        // Egress: every rule names its destinations (a rule without "to" allows every address).
        var egress = policy.Spec.Egress ?? [];
        Assert.All(egress, r => Assert.NotEmpty(r.To ?? []));

        // DNS: kube-dns in kube-system only, UDP and TCP 53.
        var dns = Assert.Single(egress, r => r.To.Any(p => p.NamespaceSelector is not null));
        var dnsPeer = Assert.Single(dns.To);
        Assert.Null(dnsPeer.IpBlock);
        Assert.True(Selects(dnsPeer.NamespaceSelector, new Dictionary<string, string> { ["kubernetes.io/metadata.name"] = "kube-system" }));
        Assert.False(Selects(dnsPeer.NamespaceSelector, new Dictionary<string, string> { ["kubernetes.io/metadata.name"] = factory.Namespace }));
        Assert.NotNull(dnsPeer.PodSelector); // without it: every pod in kube-system
        Assert.True(Selects(dnsPeer.PodSelector, new Dictionary<string, string> { ["k8s-app"] = "kube-dns" }));
        Assert.False(Selects(dnsPeer.PodSelector, new Dictionary<string, string> { ["component"] = "kube-apiserver" }));
        Assert.Equal(["TCP/53", "UDP/53"], Ports(dns));

        // The API: its pods (not the dispatcher's, not other builds), on the container port behind the Service that
        // Dispatcher__ApiUrl names.
        var api = Assert.Single(egress, r => r.To.Any(p => p.PodSelector is not null && p.NamespaceSelector is null));
        var apiPeer = Assert.Single(api.To);
        Assert.Null(apiPeer.IpBlock);
        Assert.True(Selects(apiPeer.PodSelector, apiPod), "egress must reach the API pods (the runner protocol)");
        Assert.False(Selects(apiPeer.PodSelector, dispatcherPod), "builds must not reach the dispatcher");
        Assert.All(buildPods, b => Assert.False(Selects(apiPeer.PodSelector, b), "builds must not reach each other"));
        var service = Assert.Single(objects.OfType<V1Service>());
        Assert.Equal($"{service.Metadata.Name}.{service.Metadata.NamespaceProperty}.svc.cluster.local", apiUrl.Host);
        var servicePort = Assert.Single(service.Spec.Ports, p => p.Port == apiUrl.Port);
        var apiContainer = Assert.Single(deployments["autobuilder-api"].Spec.Template.Spec.Containers);
        var containerPort = Assert.Single(apiContainer.Ports, p => p.Name == servicePort.TargetPort.Value || $"{p.ContainerPort}" == servicePort.TargetPort.Value);
        Assert.Equal([$"TCP/{containerPort.ContainerPort}"], Ports(api));

        // The internet: 0.0.0.0/0 except the private ranges (the cluster's pods and Services: PostgreSQL, the API's
        // other endpoints) and link-local (the cloud metadata endpoint).
        var internet = Assert.Single(egress, r => r.To.Any(p => p.IpBlock is not null));
        var block = Assert.Single(internet.To).IpBlock;
        Assert.Equal("0.0.0.0/0", block.Cidr);
        var refused = new List<string> { "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16" };
        if (directory.EndsWith("azure", StringComparison.Ordinal))
        {
            refused.Add("168.63.129.16/32"); // Azure's platform address (WireServer, host agent)
        }

        foreach (var range in refused)
        {
            Assert.True((block.Except ?? []).Any(e => Covers(e, range)), $"egress to {range} is not refused (except: {string.Join(", ", block.Except ?? [])})");
        }

        Assert.True(Covers(block.Cidr, "1.1.1.1/32"), "builds must reach the internet (registries)");
        Assert.DoesNotContain(block.Except ?? [], e => Covers(e, "1.1.1.1/32"));
        Assert.Equal(3, egress.Count);

        static BuildLaunch Launch(string project, string? toolchain) => new()
        {
            BuildId = Guid.NewGuid().ToString("N"),
            ProjectId = project,
            Number = 12,
            Attempt = 1,
            Token = "placeholder",
            ApiUrl = new Uri("http://autobuilder-api.auto-builder.svc.cluster.local:8080/"),
            Timeout = TimeSpan.FromHours(2),
            Toolchain = toolchain,
        };

        static IEnumerable<string> Ports(V1NetworkPolicyEgressRule rule) =>
            (rule.Ports ?? []).Select(p => $"{p.Protocol ?? "TCP"}/{p.Port?.Value}").Order(StringComparer.Ordinal);
    }

    /// <summary>Whether a label selector selects an object with these labels, as Kubernetes decides it.</summary>
    private static bool Selects(V1LabelSelector? selector, IDictionary<string, string> labels)
    {
        if (selector is null)
        {
            return false;
        }

        return (selector.MatchLabels ?? new Dictionary<string, string>()).All(l => labels.TryGetValue(l.Key, out var v) && v == l.Value)
            && (selector.MatchExpressions ?? []).All(e => e.OperatorProperty switch
            {
                "In" => labels.TryGetValue(e.Key, out var v) && e.Values.Contains(v),
                "NotIn" => !labels.TryGetValue(e.Key, out var v) || !e.Values.Contains(v),
                "Exists" => labels.ContainsKey(e.Key),
                "DoesNotExist" => !labels.ContainsKey(e.Key),
                _ => throw new InvalidOperationException($"unknown selector operator {e.OperatorProperty}"),
            });
    }

    /// <summary>Whether the CIDR block <paramref name="outer"/> contains the whole of <paramref name="inner"/>.</summary>
    private static bool Covers(string outer, string inner)
    {
        var o = System.Net.IPNetwork.Parse(outer);
        var i = System.Net.IPNetwork.Parse(inner);
        return o.PrefixLength <= i.PrefixLength && o.Contains(i.BaseAddress);
    }

    /// <summary>KEDA's ScaledObject, a custom resource KubernetesClient has no model for.</summary>
    public sealed class ScaledObject : IKubernetesObject<V1ObjectMeta>
    {
        public string ApiVersion { get; set; } = "";
        public string Kind { get; set; } = "";
        public V1ObjectMeta Metadata { get; set; } = new();
        public Dictionary<string, object> Spec { get; set; } = [];
    }

    private static void CopyFolder(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }
}
