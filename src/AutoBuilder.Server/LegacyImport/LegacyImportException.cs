namespace AutoBuilder.Server.LegacyImport;

/// <summary>A problem that stops the run before anything is copied (unknown owner, say).</summary>
public sealed class LegacyImportException(string message) : Exception(message);
