using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace AutoBuilder.Server.Persistence;

/// <summary>
/// The metadata model, shared by both providers. Each provider has a context of its own (below) so that each has
/// its own migrations: EF's way to keep two providers' schemas apart (Persistence/Migrations/{Sqlite,Postgres}).
/// Services ask for this base type; <see cref="MetadataStore"/> registers the configured provider's context as it.
/// </summary>
public abstract class AutoBuilderDbContext(DbContextOptions options) : DbContext(options)
{
    public DbSet<UserEntity> Users => Set<UserEntity>();
    public DbSet<ApiKeyEntity> ApiKeys => Set<ApiKeyEntity>();
    public DbSet<ProjectEntity> Projects => Set<ProjectEntity>();
    public DbSet<SourceEntity> Sources => Set<SourceEntity>();
    public DbSet<BuildEntity> Builds => Set<BuildEntity>();
    public DbSet<ArtifactEntity> Artifacts => Set<ArtifactEntity>();
    public DbSet<BuildStepEntity> BuildSteps => Set<BuildStepEntity>();
    public DbSet<CacheEntryEntity> CacheEntries => Set<CacheEntryEntity>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        ArgumentNullException.ThrowIfNull(modelBuilder);
        modelBuilder.ApplyConfigurationsFromAssembly(typeof(AutoBuilderDbContext).Assembly);
    }
}

/// <summary>The embedded metadata store: one SQLite file in the data folder.</summary>
public sealed class SqliteAutoBuilderDbContext(DbContextOptions<SqliteAutoBuilderDbContext> options) : AutoBuilderDbContext(options)
{
    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)
    {
        ArgumentNullException.ThrowIfNull(configurationBuilder);
        // Times are stored as UTC ticks: SQLite cannot order or compare DateTimeOffset, ticks it can.
        configurationBuilder.Properties<DateTimeOffset>().HaveConversion<DateTimeOffsetToBinaryConverter>();
        configurationBuilder.Properties<DateTimeOffset?>().HaveConversion<DateTimeOffsetToBinaryConverter>();
    }
}

/// <summary>
/// The shared metadata store of a scaled deployment. DateTimeOffset maps to timestamptz, which orders and compares
/// natively; Npgsql accepts only UTC offsets there, and every time AutoBuilder writes comes from TimeProvider.GetUtcNow().
/// </summary>
public sealed class PostgresAutoBuilderDbContext(DbContextOptions<PostgresAutoBuilderDbContext> options) : AutoBuilderDbContext(options)
{
    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        base.OnModelCreating(modelBuilder);
        // Byte-wise ordering and equality, as on SQLite, whatever locale the cluster was created with.
        foreach (var property in modelBuilder.Model.GetEntityTypes().SelectMany(t => t.GetProperties()).Where(p => p.ClrType == typeof(string)))
        {
            property.SetCollation("C");
        }
    }
}
