using AutoBuilder.Server.Persistence;

namespace AutoBuilder.Server.Hosting;

/// <summary>What `autobuilder db migrate` did: the migrations it applied, and how many had been applied before.</summary>
public sealed record MigrationResult(MetadataProvider Provider, IReadOnlyList<string> Applied, int AppliedBefore);
