using AutoBuilder.Server.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace AutoBuilder.Server.Persistence;

/// <summary>The metadata database's registrations, one per provider; each registers its context as <see cref="AutoBuilderDbContext"/>.</summary>
public static class MetadataStore
{
    public const string ConnectionStringName = "Metadata";

    /// <summary>Metadata:Provider = Sqlite: ConnectionStrings:Metadata, else {data}/autobuilder.db.</summary>
    public static IServiceCollection AddSqliteMetadata(this IServiceCollection services, IConfiguration configuration)
    {
        var connectionString = configuration.GetConnectionString(ConnectionStringName);
        services.AddDbContext<AutoBuilderDbContext, SqliteAutoBuilderDbContext>((sp, options) => ConfigureSqlite(options,
            connectionString ?? $"Data Source={Path.Combine(sp.GetRequiredService<ServerPaths>().DataDirectory, "autobuilder.db")};Default Timeout=60"));
        return services;
    }

    /// <summary>Metadata:Provider = Postgres: ConnectionStrings:Metadata is required, so its absence stops start-up here.</summary>
    public static IServiceCollection AddPostgresMetadata(this IServiceCollection services, IConfiguration configuration)
    {
        var connectionString = configuration.GetConnectionString(ConnectionStringName);
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new InvalidOperationException("Metadata:Provider is 'Postgres' but ConnectionStrings:Metadata is not set (env ConnectionStrings__Metadata).");
        }

        services.AddDbContext<AutoBuilderDbContext, PostgresAutoBuilderDbContext>(options => ConfigurePostgres(options, connectionString));
        return services;
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
