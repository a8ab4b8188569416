using System.Net;
using System.Net.Sockets;
using AutoBuilder.Core;
using AutoBuilder.Core.Storage;
using AutoBuilder.Server.Api;
using AutoBuilder.Server.Auth;
using AutoBuilder.Server.Builds;
using AutoBuilder.Server.Caches;
using AutoBuilder.Server.Dispatching;
using AutoBuilder.Server.Executors.Kubernetes;
using AutoBuilder.Server.Executors.Local;
using AutoBuilder.Server.Persistence;
using AutoBuilder.Storage;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;

namespace AutoBuilder.Server.Hosting;

/// <summary>Builds and starts the AutoBuilder web application: API, dispatcher and local executor.</summary>
public static class AutoBuilderServer
{
    public static WebApplication Build(ServeRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory, Args = [] });
        if (request.ConfigFile is not null)
        {
            builder.Configuration.AddJsonFile(Path.GetFullPath(request.ConfigFile), optional: false);
        }

        if (request.Settings is not null)
        {
            builder.Configuration.AddInMemoryCollection(request.Settings);
        }

        var urls = ResolvePorts(request.Urls);
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            [$"{ServerOptions.Section}:{nameof(ServerOptions.DataDirectory)}"] = Path.GetFullPath(request.DataDirectory),
            [$"{ServerOptions.Section}:{nameof(ServerOptions.Role)}"] = request.Role.ToString(),
            ["urls"] = urls,
        });

        builder.Logging.ClearProviders();
        builder.Logging.AddRedactingConsole();
        builder.Logging.AddFilter("Microsoft.EntityFrameworkCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        // Data protection is only pulled in by the authentication stack; AutoBuilder protects nothing with it.
        builder.Logging.AddFilter("Microsoft.AspNetCore.DataProtection", LogLevel.Error);

        builder.AddAutoBuilder(urls);
        var app = builder.Build();
        app.MapAutoBuilder();
        return app;
    }

    /// <summary>Registers every service of the roles this process runs.</summary>
    public static WebApplicationBuilder AddAutoBuilder(this WebApplicationBuilder builder, string urls)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        var configuration = builder.Configuration;

        services.AddAutoBuilderOptions(urls);
        // The provider choices decide what is registered, so they are read now; everything else is options, checked at start.
        var storageProvider = ConfigurationChoice.Read(configuration, StorageOptions.ProviderKey, new StorageOptions().Provider);
        var metadataProvider = ConfigurationChoice.Read(configuration, MetadataOptions.ProviderKey, new MetadataOptions().Provider);
        var executorDefaults = new ExecutorOptions();
        var executorKind = ConfigurationChoice.Read(configuration, ExecutorOptions.KindKey, executorDefaults.Kind);
        var runnerPlacement = ConfigurationChoice.Read(configuration, ExecutorOptions.RunnerKey, executorDefaults.Runner);

        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(sp =>
        {
            var server = sp.GetRequiredService<IOptions<ServerOptions>>().Value;
            var executor = sp.GetRequiredService<IOptions<ExecutorOptions>>().Value;
            var paths = new ServerPaths(server.DataDirectory, executor.CacheDirectory, executor.WorkspaceRoot);
            paths.EnsureCreated();
            return paths;
        });
        services.AddSingleton(sp => ServerSecrets.Load(sp.GetRequiredService<IOptions<StorageOptions>>().Value.SigningKey, sp.GetRequiredService<ServerPaths>().DataDirectory));
        services.AddSingleton(sp => ResolveAddress(urls, sp.GetRequiredService<IOptions<ServerOptions>>().Value.PublicUrl));
        services.AddSingleton(sp => new BlobLayout(sp.GetRequiredService<IOptions<StorageOptions>>().Value.Containers));
        _ = storageProvider switch
        {
            StorageProvider.AzureBlob => services.AddAzureBlobStore(),
            _ => services.AddFileSystemBlobStore(),
        };

        _ = metadataProvider switch
        {
            MetadataProvider.Postgres => services.AddPostgresMetadata(configuration),
            _ => services.AddSqliteMetadata(configuration),
        };

        services.AddScoped<ApiKeyService>();
        services.AddScoped<DatabaseInitializer>();
        services.AddScoped<BuildService>();
        services.AddScoped<SourceService>();
        services.AddScoped<RunnerService>();
        services.AddScoped<CacheService>();
        services.AddScoped<ArtifactPromoter>();
        services.AddScoped<LogStreamer>();
        services.AddScoped<CacheCatalog>();
        services.AddSingleton<CacheSweepSchedule>();
        services.AddSingleton<BuildTokenService>();
        services.AddSingleton<BuildSignals>();
        services.AddSingleton<AutoBuilderMetrics>();
        _ = executorKind switch
        {
            ExecutorKind.Kubernetes => services.AddKubernetesExecutor(),
            _ => services.AddLocalExecutor(runnerPlacement),
        };

        services.AddSingleton<SandboxCheck>();
        services.AddHostedService(sp => sp.GetRequiredService<SandboxCheck>());

        var role = configuration.GetValue<ServerRole>($"{ServerOptions.Section}:{nameof(ServerOptions.Role)}");
        if (role is ServerRole.All or ServerRole.Dispatcher)
        {
            services.AddSingleton<Dispatcher>();
            services.AddHostedService(sp => sp.GetRequiredService<Dispatcher>());
        }

        services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        services.AddAuthorization();
        services.AddAutoBuilderRateLimiting();
        services.AddProblemDetails(options => options.CustomizeProblemDetails = context =>
        {
            var problem = context.ProblemDetails;
            switch (problem.Status)
            {
                case StatusCodes.Status401Unauthorized when problem.Detail is null:
                    problem.Title = "Unauthorized";
                    problem.Detail = "A missing, unknown or revoked API key: send 'Authorization: Bearer <key>'.";
                    break;
                case StatusCodes.Status403Forbidden when problem.Detail is null:
                    problem.Detail = "This API key may not do that.";
                    break;
                case StatusCodes.Status404NotFound when problem.Detail is null:
                    problem.Detail = $"There is no endpoint {context.HttpContext.Request.Method} {context.HttpContext.Request.Path}.";
                    break;
                case StatusCodes.Status405MethodNotAllowed when problem.Detail is null:
                    problem.Detail = $"{context.HttpContext.Request.Method} is not allowed on {context.HttpContext.Request.Path}.";
                    break;
            }
        });
        services.AddExceptionHandler<ApiExceptionHandler>();
        services.ConfigureHttpJsonOptions(o => AutoBuilderJson.Configure(o.SerializerOptions));
        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(AutoBuilderMetrics.MeterName)
            .AddAspNetCoreInstrumentation()
            .AddPrometheusExporter());
        return builder;
    }

    /// <summary>Maps the endpoints of the roles this process runs.</summary>
    public static WebApplication MapAutoBuilder(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        // Every answer, errors and logs included: a browser must never sniff a build's log into HTML or script.
        app.Use((context, next) =>
        {
            context.Response.Headers.XContentTypeOptions = "nosniff";
            return next(context);
        });
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseAuthentication();
        app.UseRateLimiter(); // after authentication: the bucket is the user's
        app.UseAuthorization();

        app.MapHealthApi();
        app.MapPrometheusScrapingEndpoint("/metrics");

        var role = app.Services.GetRequiredService<IOptions<ServerOptions>>().Value.Role;
        if (role is ServerRole.All or ServerRole.Api)
        {
            if (app.Services.GetService<FileSystemBlobStore>() is not null)
            {
                app.MapBlobsApi(); // the filesystem store's signed URLs; Azure's point at the storage account
            }

            app.MapGroup("/api/v1").RequireAuthorization()
                .MapProjectsApi()
                .MapBuildsApi()
                .MapUsersApi()
                .MapRunnerApi();
        }

        return app;
    }

    /// <summary>Creates what must exist before the first request: folders, schema, containers, the first admin.</summary>
    public static async Task InitializeAsync(this WebApplication app, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(app);
        var paths = app.Services.GetRequiredService<ServerPaths>();
        await app.Services.GetRequiredService<IBlobStore>().InitializeAsync(cancellationToken);
        await using var scope = app.Services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<DatabaseInitializer>().InitializeAsync(paths.DataDirectory, cancellationToken);
    }

    /// <summary>`autobuilder db migrate`: applies the pending metadata migrations under the same lock start-up takes.</summary>
    public static async Task<MigrationResult> MigrateDatabaseAsync(this WebApplication app, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(app);
        await using var scope = app.Services.CreateAsyncScope();
        var applied = await scope.ServiceProvider.GetRequiredService<DatabaseInitializer>().MigrateAsync(cancellationToken);
        var db = scope.ServiceProvider.GetRequiredService<AutoBuilderDbContext>();
        var total = db.Database.GetMigrations().Count();
        return new MigrationResult(db.Database.IsNpgsql() ? MetadataProvider.Postgres : MetadataProvider.Sqlite, applied, total - applied.Count);
    }

    /// <summary>Replaces port 0 with a free port, so the address is known before the server starts.</summary>
    private static string ResolvePorts(string urls) => string.Join(';', urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(url =>
    {
        var uri = new Uri(url);
        if (uri.Port != 0)
        {
            return url;
        }

        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return new UriBuilder(uri) { Port = port }.Uri.ToString().TrimEnd('/');
    }));

    private static ServerAddress ResolveAddress(string urls, Uri? publicUrl)
    {
        var first = urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)[0];
        var builder = new UriBuilder(first.Replace("://*", "://127.0.0.1", StringComparison.Ordinal).Replace("://+", "://127.0.0.1", StringComparison.Ordinal));
        if (builder.Host is "0.0.0.0" or "[::]" or "::")
        {
            builder.Host = "127.0.0.1";
        }

        var local = builder.Uri;
        return new ServerAddress(publicUrl ?? local, local);
    }
}
