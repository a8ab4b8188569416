namespace AutoBuilder.Server.LegacyImport;

/// <summary>Where the importer reports how far it is; the CLI draws a bar on a terminal and prints lines otherwise.</summary>
public interface ILegacyImportProgress
{
    void BeginPhase(string name, int files, long bytes);

    /// <summary>Thread-safe; bytes may be negative when a retried file starts over.</summary>
    void Advance(int files, long bytes);

    void EndPhase();
}
