using AutoBuilder.Core.Execution;
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
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<KubernetesExecutorOptions>, KubernetesQuantitiesValidator>();
        services.AddSingleton<KubernetesJobExecutor>();
        services.AddSingleton<IBuildExecutor>(sp => sp.GetRequiredService<KubernetesJobExecutor>());
        return services;
    }
}
