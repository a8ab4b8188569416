using Microsoft.Extensions.Options;

namespace AutoBuilder.Server.Hosting;

/// <summary>Toolchains:Maven:SettingsFile must exist here, unless builds run in Kubernetes pods, where it is the pod's path.</summary>
public sealed class ToolchainOptionsValidator(IOptions<ExecutorOptions> executor) : IValidateOptions<ToolchainOptions>
{
    public ValidateOptionsResult Validate(string? name, ToolchainOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        // Under Kubernetes the path is the build pod's (e.g. /cache/maven/settings.xml), not this process's.
        return executor.Value.Kind == ExecutorKind.Kubernetes || options.Maven.SettingsFile is null || File.Exists(options.Maven.SettingsFile)
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail("Toolchains:Maven:SettingsFile names a file that does not exist.");
    }
}
