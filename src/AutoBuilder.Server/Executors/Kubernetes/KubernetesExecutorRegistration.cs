using AutoBuilder.Core.Execution;
using AutoBuilder.Core.Protocol;
using AutoBuilder.Server.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AutoBuilder.Server.Executors.Kubernetes;

public static class KubernetesExecutorRegistration
{
    /// <summary>Executor:Kind = Kubernetes: options (section "Kubernetes", checked at start) and the Job executor.</summary>
    public static IServiceCollection AddKubernetesExecutor(this IServiceCollection services)
    {
        services.AddOptions<KubernetesExecutorOptions>().BindConfiguration(KubernetesExecutorOptions.Section)
            .ValidateDataAnnotations()
            .Validate<IOptions<CacheOptions>>((kubernetes, caches) => caches.Value.Mode != CacheMode.Shared || !string.IsNullOrWhiteSpace(kubernetes.CacheClaimName),
                "Caches:Mode=Shared on Kubernetes needs Kubernetes:CacheClaimName, a ReadWriteMany claim every build mounts at /cache (deploy/kubernetes/components/shared-cache).")
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<KubernetesExecutorOptions>, KubernetesQuantitiesValidator>();
        services.AddSingleton<KubernetesJobExecutor>();
        services.AddSingleton<IBuildExecutor>(sp => sp.GetRequiredService<KubernetesJobExecutor>());
        return services;
    }
}
