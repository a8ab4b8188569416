using AutoBuilder.Server.Auth;
using AutoBuilder.Server.Persistence;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AutoBuilder.Server.Hosting;

/// <summary>
/// Binds every options section of the server once, with its checks; a bad value stops start-up with a message naming
/// the key. Sections of a provider that is not always there (Kubernetes, Storage:Azure) are bound by its AddXxx().
/// </summary>
public static class OptionsRegistration
{
    /// <param name="urls">The listening addresses: part of a dispatcher-only process's default instance id.</param>
    public static IServiceCollection AddAutoBuilderOptions(this IServiceCollection services, string urls)
    {
        services.AddOptions<ServerOptions>().BindConfiguration(ServerOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<StorageOptions>().BindConfiguration(StorageOptions.Section).ValidateOnStart();
        services.AddOptions<DownloadLinkOptions>().BindConfiguration(DownloadLinkOptions.Section).ValidateDataAnnotations()
            .Validate(o => o.DefaultLifetime <= o.MaxLifetime, "Links:DefaultLifetime must not exceed Links:MaxLifetime.").ValidateOnStart();
        services.AddOptions<RateLimitOptions>().BindConfiguration(RateLimitOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<UploadOptions>().BindConfiguration(UploadOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<BuildOptions>().BindConfiguration(BuildOptions.Section).ValidateDataAnnotations()
            .Validate(o => o.DefaultTimeout <= o.MaxTimeout, "Builds:DefaultTimeout must not exceed Builds:MaxTimeout.").ValidateOnStart();
        services.AddOptions<DispatcherOptions>().BindConfiguration(DispatcherOptions.Section).ValidateDataAnnotations().ValidateOnStart()
            .PostConfigure<IOptions<ServerOptions>>((dispatcher, server) =>
            {
                // Stable across restarts on one machine and data folder, so a restarted server settles its own
                // interrupted builds at once instead of waiting for their leases to expire. Dispatcher-only processes
                // may share one data folder (the file-system blob store of a one-machine deployment), so their
                // listening address tells them apart too.
                var identity = server.Value.Role == ServerRole.Dispatcher ? $"{server.Value.DataDirectory}|{urls}" : server.Value.DataDirectory;
                dispatcher.InstanceId ??= $"{Environment.MachineName}-{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(identity)))[..8]}";
                if (server.Value.Role == ServerRole.Dispatcher)
                {
                    dispatcher.ApiUrl ??= server.Value.PublicUrl;
                }
            })
            .Validate<IOptions<ServerOptions>>((dispatcher, server) => server.Value.Role != ServerRole.Dispatcher || dispatcher.ApiUrl is not null,
                "--role dispatcher needs to know where its runners reach the API: set Dispatcher:ApiUrl (or Server:PublicUrl).");
        services.AddOptions<AuthOptions>().BindConfiguration(AuthOptions.Section)
            .Validate(o => o.BootstrapAdminKey is null || ApiKeyService.IsWellFormed(o.BootstrapAdminKey),
                "Auth:BootstrapAdminKey is not a valid API key: it must be 'abk_' followed by 43 to 124 URL-safe base64 characters (A-Z, a-z, 0-9, '-', '_'), 47 to 128 characters in all.")
            .ValidateOnStart();
        // Executor:Kind and Executor:Runner were judged when the executor was chosen (ConfigurationChoice).
        services.AddOptions<ExecutorOptions>().BindConfiguration(ExecutorOptions.Section).ValidateOnStart();
        services.AddOptions<ToolchainOptions>().BindConfiguration(ToolchainOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ToolchainOptions>, ToolchainOptionsValidator>();
        services.AddOptions<SandboxOptions>().BindConfiguration(SandboxOptions.Section)
            .Validate(o => Enum.IsDefined(o.Mode), "Sandbox:Mode must be Auto, Required or Off.")
            .Validate(o => Enum.IsDefined(o.Network), "Sandbox:Network must be Egress, None or Host.")
            .Validate(o => o.AllowedNetworks.All(SandboxOptions.IsIPv4Network), "Sandbox:AllowedNetworks entries must be IPv4 networks in CIDR form, such as 10.1.2.0/24.")
            .ValidateOnStart();
        services.AddOptions<CacheOptions>().BindConfiguration(CacheOptions.Section).ValidateDataAnnotations()
            .Validate(o => Enum.IsDefined(o.Mode), "Caches:Mode must be Keyed, Shared or Off.")
            .Validate(o => o.MaxArchiveBytes <= o.MaxProjectBytes, "Caches:MaxArchiveBytes must not exceed Caches:MaxProjectBytes.")
            .ValidateOnStart();
        services.AddOptions<MetadataOptions>().BindConfiguration(MetadataOptions.Section);
        return services;
    }
}
