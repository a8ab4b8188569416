using AutoBuilder.EndToEnd.Tests.Infrastructure;
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

        var pvc = Assert.Single(objects.OfType<V1PersistentVolumeClaim>());
        Assert.Equal("build-cache-pvc", pvc.Metadata.Name);
        Assert.Equal(["ReadWriteMany"], pvc.Spec.AccessModes);
        Assert.Equal("azurefile-csi-premium", pvc.Spec.StorageClassName);
        Assert.Equal("20Gi", pvc.Spec.Resources.Requests["storage"].ToString());

        Assert.Equal(1, Assert.Single(objects.OfType<V1PodDisruptionBudget>()).Spec.MinAvailable.Value is var min && int.TryParse(min, out var n) ? n : -1);
        var scaled = Assert.Single(objects.OfType<ScaledObject>());
        Assert.Contains("autobuilder_queue_depth", System.Text.Json.JsonSerializer.Serialize(scaled.Spec), StringComparison.Ordinal);

        // The overlay uses the workload identity, never an account key.
        Assert.Contains("azure.workload.identity/use", result.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("AccountKey", result.Stdout, StringComparison.Ordinal);
    }

    /// <summary>KEDA's ScaledObject, a custom resource KubernetesClient has no model for.</summary>
    public sealed class ScaledObject : IKubernetesObject<V1ObjectMeta>
    {
        public string ApiVersion { get; set; } = "";
        public string Kind { get; set; } = "";
        public V1ObjectMeta Metadata { get; set; } = new();
        public Dictionary<string, object> Spec { get; set; } = [];
    }
}
