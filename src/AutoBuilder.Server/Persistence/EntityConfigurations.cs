using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AutoBuilder.Server.Persistence;

internal sealed class UserConfiguration : IEntityTypeConfiguration<UserEntity>
{
    public void Configure(EntityTypeBuilder<UserEntity> builder)
    {
        builder.ToTable("users");
        builder.HasKey(u => u.Name);
        builder.Property(u => u.Name).HasMaxLength(63);
    }
}

internal sealed class ApiKeyConfiguration : IEntityTypeConfiguration<ApiKeyEntity>
{
    public void Configure(EntityTypeBuilder<ApiKeyEntity> builder)
    {
        builder.ToTable("api_keys");
        builder.HasKey(k => k.Id);
        builder.HasIndex(k => k.Hash).IsUnique();
        builder.HasIndex(k => k.UserName);
        builder.Property(k => k.Hash).HasMaxLength(64);
    }
}

internal sealed class ProjectConfiguration : IEntityTypeConfiguration<ProjectEntity>
{
    public void Configure(EntityTypeBuilder<ProjectEntity> builder)
    {
        builder.ToTable("projects");
        builder.HasKey(p => p.Id);
        builder.Property(p => p.Id).HasMaxLength(63);
        builder.HasIndex(p => p.OwnerName);
    }
}

internal sealed class SourceConfiguration : IEntityTypeConfiguration<SourceEntity>
{
    public void Configure(EntityTypeBuilder<SourceEntity> builder)
    {
        builder.ToTable("sources");
        builder.HasKey(s => s.Id);
        builder.HasIndex(s => s.ProjectId);
    }
}

internal sealed class BuildConfiguration : IEntityTypeConfiguration<BuildEntity>
{
    public void Configure(EntityTypeBuilder<BuildEntity> builder)
    {
        builder.ToTable("builds");
        builder.HasKey(b => b.Id);
        builder.HasIndex(b => new { b.ProjectId, b.Number }).IsUnique();
        builder.HasIndex(b => new { b.Status, b.QueuedAt });
        builder.Property(b => b.Status).HasConversion<string>().HasMaxLength(16);
        builder.Property(b => b.Phase).HasConversion<string>().HasMaxLength(16);
    }
}

internal sealed class ArtifactConfiguration : IEntityTypeConfiguration<ArtifactEntity>
{
    public void Configure(EntityTypeBuilder<ArtifactEntity> builder)
    {
        builder.ToTable("artifacts");
        builder.HasKey(a => a.Id);
        builder.HasIndex(a => a.BuildId);
        builder.HasIndex(a => new { a.ProjectId, a.Version, a.Name });
    }
}

internal sealed class BuildStepConfiguration : IEntityTypeConfiguration<BuildStepEntity>
{
    public void Configure(EntityTypeBuilder<BuildStepEntity> builder)
    {
        builder.ToTable("build_steps");
        builder.HasKey(s => s.Id);
        builder.HasIndex(s => new { s.BuildId, s.Index }).IsUnique();
        builder.Property(s => s.Name).HasMaxLength(200);
        builder.Property(s => s.Status).HasConversion<string>().HasMaxLength(16);
    }
}

internal sealed class CacheEntryConfiguration : IEntityTypeConfiguration<CacheEntryEntity>
{
    public void Configure(EntityTypeBuilder<CacheEntryEntity> builder)
    {
        builder.ToTable("cache_entries");
        builder.HasKey(c => c.Id);
        // One archive per key: the first build to register it wins, a second registration is refused here.
        builder.HasIndex(c => new { c.ProjectId, c.Toolchain, c.Key }).IsUnique();
        builder.HasIndex(c => new { c.ProjectId, c.LastUsedAt });
        builder.Property(c => c.ProjectId).HasMaxLength(63);
        builder.Property(c => c.Toolchain).HasMaxLength(32);
        builder.Property(c => c.Key).HasMaxLength(200);
        builder.Property(c => c.Sha256).HasMaxLength(64);
    }
}
