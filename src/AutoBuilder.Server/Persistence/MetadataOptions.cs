namespace AutoBuilder.Server.Persistence;

/// <summary>Which database holds the metadata: section "Metadata" plus ConnectionStrings:Metadata.</summary>
public sealed class MetadataOptions
{
    public const string Section = "Metadata";

    /// <summary>Read when services are registered (<see cref="Hosting.ConfigurationChoice"/>): it picks the database.</summary>
    public const string ProviderKey = $"{Section}:{nameof(Provider)}";

    public MetadataProvider Provider { get; set; } = MetadataProvider.Sqlite;

    /// <summary>Apply pending schema migrations at start-up; off, `autobuilder db migrate` must have run first.</summary>
    public bool MigrateOnStart { get; set; } = true;
}
