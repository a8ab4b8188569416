using AutoBuilder.Server.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace AutoBuilder.Server.Persistence;

/// <summary>Which database holds the metadata: section "Metadata" plus ConnectionStrings:Metadata.</summary>
public sealed class MetadataOptions
{
    public const string Section = "Metadata";

    /// <summary>Sqlite (embedded, {data}/autobuilder.db by default) or Postgres (ConnectionStrings:Metadata required).</summary>
    public MetadataProvider Provider { get; set; } = MetadataProvider.Sqlite;

    /// <summary>Apply pending schema migrations at start-up; off, `autobuilder db migrate` must have run first.</summary>
    public bool MigrateOnStart { get; set; } = true;
}

public enum MetadataProvider
{
    Sqlite,
    Postgres,
}

/// <summary>Registers the configured provider's context as <see cref="AutoBuilderDbContext"/>.</summary>
public static class MetadataStore
{
    public const string ConnectionStringName = "Metadata";

    public static void AddMetadataStore(this IServiceCollection services, IConfiguration configuration)
    {
        var section = configuration.GetSection(MetadataOptions.Section);
        var providerName = section[nameof(MetadataOptions.Provider)];
        var provider = MetadataProvider.Sqlite;
        if (!string.IsNullOrWhiteSpace(providerName) && !Enum.TryParse(providerName, ignoreCase: true, out provider))
        {
            throw new InvalidOperationException($"Metadata:Provider '{providerName}' is not supported; use 'Sqlite' or 'Postgres'.");
        }

        services.AddOptions<MetadataOptions>().BindConfiguration(MetadataOptions.Section);
        var connectionString = configuration.GetConnectionString(ConnectionStringName);
        if (provider == MetadataProvider.Postgres)
        {
            if (string.IsNullOrWhiteSpace(connectionString))
            {
                throw new InvalidOperationException("Metadata:Provider is 'Postgres' but ConnectionStrings:Metadata is not set (env ConnectionStrings__Metadata).");
            }

            services.AddDbContext<AutoBuilderDbContext, PostgresAutoBuilderDbContext>(options => ConfigurePostgres(options, connectionString));
        }
        else
        {
            services.AddDbContext<AutoBuilderDbContext, SqliteAutoBuilderDbContext>((sp, options) => ConfigureSqlite(options,
                connectionString ?? $"Data Source={Path.Combine(sp.GetRequiredService<ServerPaths>().DataDirectory, "autobuilder.db")};Default Timeout=60"));
        }
    }

    public static DbContextOptionsBuilder ConfigureSqlite(DbContextOptionsBuilder options, string connectionString)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.UseSqlite(connectionString);
    }

    public static DbContextOptionsBuilder ConfigurePostgres(DbContextOptionsBuilder options, string connectionString)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.UseNpgsql(connectionString);
    }
}

/// <summary>For `dotnet ef migrations add ... --context SqliteAutoBuilderDbContext`: no database is touched.</summary>
internal sealed class SqliteDesignTimeFactory : IDesignTimeDbContextFactory<SqliteAutoBuilderDbContext>
{
    public SqliteAutoBuilderDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<SqliteAutoBuilderDbContext>().UseSqlite("Data Source=design-time.db").Options);
}

/// <summary>For `dotnet ef migrations add ... --context PostgresAutoBuilderDbContext`: no database is touched.</summary>
internal sealed class PostgresDesignTimeFactory : IDesignTimeDbContextFactory<PostgresAutoBuilderDbContext>
{
    public PostgresAutoBuilderDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<PostgresAutoBuilderDbContext>().UseNpgsql("Host=localhost;Database=autobuilder").Options);
}
