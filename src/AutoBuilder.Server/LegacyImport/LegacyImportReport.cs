namespace AutoBuilder.Server.LegacyImport;

/// <summary>What `autobuilder migrate` asked for.</summary>
/// <param name="Owner">The user who owns every imported project (the legacy volume knows no users).</param>
/// <param name="Parallelism">Files copied and verified at once.</param>
/// <param name="VerifyOnly">Copy and register nothing; only compare every migrated blob with its legacy file.</param>
public sealed record MigrationSettings(string Owner, int Parallelism, bool VerifyOnly);

/// <summary>A file that did not make it, and why.</summary>
public sealed record MigrationProblem(string RelativePath, string Target, string Reason);

/// <summary>How a run went: the copy's counts and the verification's findings.</summary>
public sealed class MigrationReport
{
    /// <summary>Files and bytes of the legacy volume that are migrated (the plan).</summary>
    public int Files { get; set; }

    public long Bytes { get; set; }

    public int Copied { get; set; }

    public long CopiedBytes { get; set; }

    /// <summary>Files whose identical blob (same size and SHA-256) was already in the store.</summary>
    public int Skipped { get; set; }

    /// <summary>Blobs whose size or SHA-256 differs from their legacy file (including existing artifacts that were not overwritten).</summary>
    public List<MigrationProblem> Mismatched { get; } = [];

    /// <summary>Blobs or metadata records that should exist and do not.</summary>
    public List<MigrationProblem> Missing { get; } = [];

    /// <summary>Files that could not be copied (after retries).</summary>
    public List<MigrationProblem> Failed { get; } = [];

    public int Verified { get; set; }

    public long VerifiedBytes { get; set; }

    public int Projects { get; set; }

    public int Builds { get; set; }

    /// <summary>True when every migrated file is in the store with its exact content and every record exists.</summary>
    public bool Clean => Mismatched.Count == 0 && Missing.Count == 0 && Failed.Count == 0;
}

/// <summary>Where the migrator reports how far it is; the CLI draws a bar on a terminal and prints lines otherwise.</summary>
public interface IMigrationProgress
{
    void BeginPhase(string name, int files, long bytes);

    /// <summary>Thread-safe; bytes may be negative when a retried file starts over.</summary>
    void Advance(int files, long bytes);

    void EndPhase();
}

/// <summary>A problem that stops the run before anything is copied (unknown owner, say).</summary>
public sealed class MigrationException(string message) : Exception(message);
