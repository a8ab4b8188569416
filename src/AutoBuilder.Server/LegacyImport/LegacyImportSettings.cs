namespace AutoBuilder.Server.LegacyImport;

/// <summary>What `autobuilder migrate` asked for.</summary>
/// <param name="Owner">The user who owns every imported project (the legacy volume knows no users).</param>
/// <param name="Parallelism">Files copied and verified at once.</param>
/// <param name="VerifyOnly">Copy and register nothing; only compare every migrated blob with its legacy file.</param>
public sealed record LegacyImportSettings(string Owner, int Parallelism, bool VerifyOnly);
