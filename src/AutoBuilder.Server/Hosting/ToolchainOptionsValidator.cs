using Microsoft.Extensions.Options;

namespace AutoBuilder.Server.Hosting;

/// <summary>
/// Toolchains:Maven:SettingsFile and Toolchains:Gradle:InitScript must exist here, unless builds run in Kubernetes pods,
/// where they are the pod's paths; Gradle mirror credentials need the mirror.
/// </summary>
public sealed class ToolchainOptionsValidator(IOptions<ExecutorOptions> executor) : IValidateOptions<ToolchainOptions>
{
    public ValidateOptionsResult Validate(string? name, ToolchainOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        // Under Kubernetes the paths are the build pod's (e.g. /cache/maven/settings.xml), not this process's.
        var local = executor.Value.Kind != ExecutorKind.Kubernetes;
        var gradle = options.Gradle;
        if (local && options.Maven.SettingsFile is not null && !File.Exists(options.Maven.SettingsFile))
        {
            return ValidateOptionsResult.Fail("Toolchains:Maven:SettingsFile names a file that does not exist.");
        }

        if (local && gradle.InitScript is not null && !File.Exists(gradle.InitScript))
        {
            return ValidateOptionsResult.Fail("Toolchains:Gradle:InitScript names a file that does not exist.");
        }

        if (gradle.MirrorUrl is { } mirror && !(Uri.TryCreate(mirror, UriKind.Absolute, out var uri) && uri.Scheme is "https" or "http"))
        {
            return ValidateOptionsResult.Fail("Toolchains:Gradle:MirrorUrl must be an absolute http(s) URL.");
        }

        return gradle.MirrorUrl is null && (gradle.MirrorUsername ?? gradle.MirrorPassword) is not null
            ? ValidateOptionsResult.Fail("Toolchains:Gradle:MirrorUsername and MirrorPassword need Toolchains:Gradle:MirrorUrl.")
            : ValidateOptionsResult.Success;
    }
}
