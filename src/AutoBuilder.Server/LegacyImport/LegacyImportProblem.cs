namespace AutoBuilder.Server.LegacyImport;

/// <summary>A file that did not make it, and why.</summary>
public sealed record LegacyImportProblem(string RelativePath, string Target, string Reason);
