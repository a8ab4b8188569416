using AutoBuilder.EndToEnd.Tests.Infrastructure;
using AutoBuilder.EndToEnd.Tests.Infrastructure.FakeKubernetes;
using k8s;
using k8s.Models;

namespace AutoBuilder.EndToEnd.Tests.Kubernetes;

/// <summary>`autobuilder k8s render-job`: the Secret and Job exactly as the executor creates them, for an operator to review.</summary>
public sealed class RenderJobTests
{
    [Fact]
    public async Task RenderJob_HasEveryFieldOfABuildJob_AndNoAccountWideCredential()
    {
        var result = await ToolProcess.RunAsync("dotnet", [TestPaths.CliDll, "k8s", "render-job", "--project", "shop-api", "--build", "12", "--toolchain", "maven"], new Dictionary<string, string>
        {
            ["Kubernetes__RunnerImages__maven"] = "registry.example/autobuilder/runner-maven:1",
            ["Kubernetes__NodeSelector__agentpool"] = "builds",
            ["Kubernetes__Tolerations__0__Key"] = "autobuilder.dev/builds",
            ["Kubernetes__Tolerations__0__Value"] = "true",
            ["Kubernetes__Tolerations__0__Effect"] = "NoSchedule",
            // Present in the dispatcher's environment; must never reach a Job.
            ["AZURE_STORAGE_CONNECTION_STRING"] = "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=c2VjcmV0",
        });

        Assert.True(result.ExitCode == 0, result.Stderr);
        var yaml = result.Stdout;
        var objects = KubernetesYaml.LoadAllFromString(yaml);
        var secret = Assert.IsType<V1Secret>(objects[0]);
        var job = Assert.IsType<V1Job>(objects[1]);

        // Labels on the Job and its pods.
        foreach (var labels in new[] { job.Metadata.Labels, job.Spec.Template.Metadata.Labels, secret.Metadata.Labels })
        {
            Assert.Equal("autobuilder", labels["app.kubernetes.io/name"]);
            Assert.Equal("shop-api", labels["autobuilder.dev/project"]);
            Assert.Equal("12", labels["autobuilder.dev/build-number"]);
            Assert.Equal("1", labels["autobuilder.dev/attempt"]);
            Assert.Matches("^[0-9a-f]{32}$", labels["autobuilder.dev/build-id"]);
        }

        Assert.Equal(0, job.Spec.BackoffLimit);
        Assert.Equal((6 * 3600) + 120, job.Spec.ActiveDeadlineSeconds); // Builds:MaxTimeout + Dispatcher:TimeoutGrace
        Assert.Equal(3600, job.Spec.TtlSecondsAfterFinished);
        var pod = job.Spec.Template.Spec;
        Assert.Equal("Never", pod.RestartPolicy);
        Assert.False(pod.AutomountServiceAccountToken);
        Assert.True(pod.SecurityContext.RunAsNonRoot);
        Assert.Equal("builds", pod.NodeSelector["agentpool"]);
        var toleration = Assert.Single(pod.Tolerations);
        Assert.Equal(("autobuilder.dev/builds", "true", "NoSchedule"), (toleration.Key, toleration.Value, toleration.Effect));

        var container = Assert.Single(pod.Containers);
        Assert.Equal("registry.example/autobuilder/runner-maven:1", container.Image);
        Assert.False(container.SecurityContext.AllowPrivilegeEscalation);
        Assert.True(container.SecurityContext.RunAsNonRoot);
        Assert.Equal(["ALL"], container.SecurityContext.Capabilities.Drop);
        Assert.Equal("1", container.Resources.Requests["cpu"].ToString());
        Assert.Equal("2Gi", container.Resources.Requests["memory"].ToString());
        Assert.Equal("10Gi", container.Resources.Requests["ephemeral-storage"].ToString());
        Assert.Equal("2", container.Resources.Limits["cpu"].ToString());
        Assert.Equal("4Gi", container.Resources.Limits["memory"].ToString());
        Assert.Equal("20Gi", container.Resources.Limits["ephemeral-storage"].ToString());

        var volumes = pod.Volumes.ToDictionary(v => v.Name);
        var workspace = volumes[Assert.Single(container.VolumeMounts, m => m.MountPath == "/workspace").Name];
        Assert.NotNull(workspace.EmptyDir);
        Assert.Equal("20Gi", workspace.EmptyDir.SizeLimit.ToString());
        // Keyed caches (the default): no build pod mounts a shared volume, and the runner gets no --cache folder.
        Assert.DoesNotContain(container.VolumeMounts, m => m.MountPath == "/cache");
        Assert.DoesNotContain(pod.Volumes, v => v.PersistentVolumeClaim is not null);
        Assert.DoesNotContain("--cache", container.Args);
        var tokenMount = Assert.Single(container.VolumeMounts, m => m.MountPath == "/var/run/autobuilder");
        Assert.True(tokenMount.ReadOnlyProperty);
        Assert.Equal(secret.Metadata.Name, volumes[tokenMount.Name].Secret.SecretName);
        Assert.Contains("--token-file", container.Args);
        Assert.Contains("--detached", container.Args);

        // Only the build token (a placeholder here) and the API's address: no storage key, connection string or API key.
        Assert.Equal(["token"], secret.StringData.Keys);
        Assert.All(container.Env, e => Assert.Null(e.ValueFrom));
        Assert.Equal(["TMPDIR", "DOTNET_CLI_TELEMETRY_OPTOUT"], container.Env.Select(e => e.Name));
        foreach (var forbidden in new[] { "AccountKey", "DefaultEndpointsProtocol", "SharedAccessSignature", "CONNECTION_STRING", "SigningKey", "sig=", "abk_" })
        {
            Assert.DoesNotContain(forbidden, yaml, StringComparison.OrdinalIgnoreCase);
        }
    }

    [Fact]
    public async Task RenderJob_SharedCacheMode_MountsTheClaimAtCache()
    {
        var result = await ToolProcess.RunAsync("dotnet", [TestPaths.CliDll, "k8s", "render-job", "--project", "shop-api", "--build", "3"], new Dictionary<string, string>
        {
            ["Caches__Mode"] = "Shared",
            ["Kubernetes__CacheClaimName"] = "build-cache-pvc",
        });

        Assert.True(result.ExitCode == 0, result.Stderr);
        var pod = Assert.IsType<V1Job>(KubernetesYaml.LoadAllFromString(result.Stdout)[1]).Spec.Template.Spec;
        var container = Assert.Single(pod.Containers);
        var mount = Assert.Single(container.VolumeMounts, m => m.MountPath == "/cache");
        Assert.Equal("build-cache-pvc", Assert.Single(pod.Volumes, v => v.Name == mount.Name).PersistentVolumeClaim.ClaimName);
        Assert.Equal("/cache", container.Args[container.Args.IndexOf("--cache") + 1]);
    }

    [Theory]
    [InlineData("a")]
    [InlineData("x-")]
    [InlineData("0-0-")]
    [InlineData("a23456789012345678901234567890123456789012345678901234567890123")]
    [InlineData("a2345678901234567890123456789012345678901234567890123456789012-")]
    public async Task RenderJob_AnyValidProjectId_NamesAndLabelsPassKubernetesValidation(string projectId)
    {
        var result = await ToolProcess.RunAsync("dotnet", [TestPaths.CliDll, "k8s", "render-job", "--project", projectId, "--build", "99999", "--attempt", "20"]);

        Assert.True(result.ExitCode == 0, result.Stderr);
        var objects = KubernetesYaml.LoadAllFromString(result.Stdout);
        var secret = Assert.IsType<V1Secret>(objects[0]);
        var job = Assert.IsType<V1Job>(objects[1]);
        Assert.Empty(Validation.Validate(job, "auto-builder"));
        Assert.Empty(Validation.Validate(secret, "auto-builder"));
        Assert.Equal(projectId, job.Metadata.Annotations["autobuilder.dev/project-id"]);
    }

    [Theory]
    [InlineData("--project", "Bad_Id", "not a valid project id")]
    [InlineData("--build", "0", "must be 1 or more")]
    public async Task RenderJob_BadInput_FailsWithAClearMessage(string option, string value, string message)
    {
        var args = new List<string> { TestPaths.CliDll, "k8s", "render-job", "--project", "ok", "--build", "1" };
        args[args.IndexOf(option) + 1] = value;

        var result = await ToolProcess.RunAsync("dotnet", args);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(message, result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RenderJob_BadQuantity_FailsNamingTheSetting()
    {
        var result = await ToolProcess.RunAsync("dotnet", [TestPaths.CliDll, "k8s", "render-job", "--project", "ok", "--build", "1"],
            new Dictionary<string, string> { ["Kubernetes__Limits__Memory"] = "four gigs" });

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("must be Kubernetes quantities", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RenderJob_SharedCacheModeWithoutAClaim_FailsNamingTheSetting()
    {
        var result = await ToolProcess.RunAsync("dotnet", [TestPaths.CliDll, "k8s", "render-job", "--project", "ok", "--build", "1"],
            new Dictionary<string, string> { ["Caches__Mode"] = "Shared" });

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("Kubernetes:CacheClaimName", result.Stderr, StringComparison.Ordinal);
    }
}
