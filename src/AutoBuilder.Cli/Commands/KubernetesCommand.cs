using System.CommandLine;
using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using System.Text;
using AutoBuilder.Core;
using AutoBuilder.Core.Execution;
using AutoBuilder.Core.Protocol;
using AutoBuilder.Server.Executors.Kubernetes;
using AutoBuilder.Server.Hosting;
using Microsoft.Extensions.Configuration;

namespace AutoBuilder.Cli.Commands;

/// <summary>`autobuilder k8s render-job`: the Secret and Job of one build, exactly as the Kubernetes executor makes them.</summary>
internal static class KubernetesCommand
{
    /// <summary>Stands in for the real token, which exists only inside the dispatcher and the Job's Secret.</summary>
    public const string PlaceholderToken = "<build-token: set by the dispatcher>";

    /// <summary>Where build pods reach the API when Dispatcher:ApiUrl is not configured (the base's Service).</summary>
    private static readonly Uri DefaultApiUrl = new("http://autobuilder-api:8080/");

    public static Command Create()
    {
        var project = new Option<string>("--project") { Description = "The project id", Required = true };
        var build = new Option<int>("--build") { Description = "The build number", Required = true };
        var toolchain = new Option<string?>("--toolchain") { Description = "The requested toolchain (picks the runner image)" };
        var attempt = new Option<int>("--attempt") { Description = "The attempt", DefaultValueFactory = _ => 1 };
        var config = new Option<string?>("--config") { Description = "The server's JSON configuration file (Kubernetes:*, Builds:*, Dispatcher:*); environment variables apply as for serve" };

        var render = new Command("render-job", "Print the Secret and Job of a build as YAML, as the Kubernetes executor would create them (placeholder token)")
        {
            project, build, toolchain, attempt, config,
        };
        render.SetAction(async (parseResult, cancellationToken) =>
        {
            var projectId = parseResult.GetValue(project)!;
            var number = parseResult.GetValue(build);
            if (!Ids.IsValidProjectId(projectId))
            {
                await Console.Error.WriteLineAsync($"autobuilder k8s render-job: '{projectId}' is not a valid project id (lower-case letters, digits and '-', 1-63 characters).");
                return ExitCodes.Error;
            }

            if (number < 1 || parseResult.GetValue(attempt) < 1)
            {
                await Console.Error.WriteLineAsync("autobuilder k8s render-job: --build and --attempt must be 1 or more.");
                return ExitCodes.Error;
            }

            IConfiguration configuration;
            try
            {
                var builder = new ConfigurationBuilder();
                if (parseResult.GetValue(config) is { } file)
                {
                    builder.AddJsonFile(Path.GetFullPath(file), optional: false);
                }

                configuration = builder.AddEnvironmentVariables().Build();
            }
            catch (Exception e) when (e is IOException or InvalidDataException or FormatException)
            {
                await Console.Error.WriteLineAsync($"autobuilder k8s render-job: {e.Message}");
                return ExitCodes.Error;
            }

            var options = configuration.GetSection(KubernetesExecutorOptions.Section).Get<KubernetesExecutorOptions>() ?? new KubernetesExecutorOptions();
            var builds = configuration.GetSection(BuildOptions.Section).Get<BuildOptions>() ?? new BuildOptions();
            var dispatcher = configuration.GetSection(DispatcherOptions.Section).Get<DispatcherOptions>() ?? new DispatcherOptions();
            var problems = new List<ValidationResult>();
            var quantities = new KubernetesQuantitiesValidator().Validate(null, options);
            if (!Validator.TryValidateObject(options, new ValidationContext(options), problems, validateAllProperties: true) || quantities.Failed)
            {
                var reasons = problems.Select(p => p.ErrorMessage).DefaultIfEmpty(quantities.FailureMessage);
                await Console.Error.WriteLineAsync($"autobuilder k8s render-job: {string.Join(" ", reasons)}");
                return ExitCodes.Error;
            }

            var caches = configuration.GetSection(CacheOptions.Section).Get<CacheOptions>() ?? new CacheOptions();
            if (caches.Mode == CacheMode.Shared && string.IsNullOrWhiteSpace(options.CacheClaimName))
            {
                await Console.Error.WriteLineAsync("autobuilder k8s render-job: Caches:Mode=Shared needs Kubernetes:CacheClaimName, the ReadWriteMany claim every build mounts at /cache.");
                return ExitCodes.Error;
            }

            var launch = new BuildLaunch
            {
                // A stable stand-in: the real id is generated when the build is queued.
                BuildId = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{projectId}/{number}")))[..32],
                ProjectId = projectId,
                Number = number,
                Attempt = parseResult.GetValue(attempt),
                Token = PlaceholderToken,
                ApiUrl = dispatcher.ApiUrl ?? DefaultApiUrl,
                // The same deadline the dispatcher gives every attempt.
                Timeout = builds.MaxTimeout + dispatcher.TimeoutGrace,
                Toolchain = parseResult.GetValue(toolchain),
            };
            options.Namespace ??= "auto-builder";
            await Console.Out.WriteAsync(new BuildJobFactory(options).RenderYaml(launch).AsMemory(), cancellationToken);
            return ExitCodes.Success;
        });

        return new Command("k8s", "Kubernetes helpers for operators") { render };
    }
}
