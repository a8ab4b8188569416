namespace AutoBuilder.Server.Persistence;

/// <summary>Metadata:Provider: the database that holds the metadata.</summary>
public enum MetadataProvider
{
    /// <summary>Embedded, {data}/autobuilder.db unless ConnectionStrings:Metadata says otherwise (the default).</summary>
    Sqlite,

    /// <summary>PostgreSQL at ConnectionStrings:Metadata (required).</summary>
    Postgres,
}
