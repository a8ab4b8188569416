using k8s.Models;
using Microsoft.Extensions.Options;

namespace AutoBuilder.Server.Executors.Kubernetes;

/// <summary>
/// Kubernetes:Requests, Limits and WorkspaceSizeLimit must parse as Kubernetes quantities: checked at start by the
/// executor and by `autobuilder k8s render-job`, with the same message.
/// </summary>
public sealed class KubernetesQuantitiesValidator : IValidateOptions<KubernetesExecutorOptions>
{
    public ValidateOptionsResult Validate(string? name, KubernetesExecutorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return AreQuantities(options)
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail("Kubernetes:Requests, Limits and WorkspaceSizeLimit must be Kubernetes quantities (e.g. 2, 500m, 4Gi).");
    }

    private static bool AreQuantities(KubernetesExecutorOptions options)
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
