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
