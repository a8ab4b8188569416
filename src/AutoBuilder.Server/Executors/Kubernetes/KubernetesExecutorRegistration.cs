using AutoBuilder.Core.Execution;
using k8s.Models;
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
            .Validate(o => AreQuantities(o), "Kubernetes:Requests, Limits and WorkspaceSizeLimit must be Kubernetes quantities (e.g. 2, 500m, 4Gi).")
            .ValidateOnStart();
        services.AddSingleton<KubernetesJobExecutor>();
        services.AddSingleton<IBuildExecutor>(sp => sp.GetRequiredService<KubernetesJobExecutor>());
        return services;
    }

    public static bool AreQuantities(KubernetesExecutorOptions options)
    {
        var values = new[]
        {
            options.WorkspaceSizeLimit, options.Requests.Cpu, options.Requests.Memory, options.Requests.EphemeralStorage,
            options.Limits.Cpu, options.Limits.Memory, options.Limits.EphemeralStorage,
        };
        try
        {
            foreach (var value in values.Where(v => !string.IsNullOrWhiteSpace(v)))
            {
                _ = new ResourceQuantity(value).ToDecimal();
            }

            return true;
        }
        catch (Exception e) when (e is FormatException or ArgumentException or OverflowException)
        {
            return false;
        }
    }
}
