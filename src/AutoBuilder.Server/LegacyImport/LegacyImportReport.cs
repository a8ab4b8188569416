namespace AutoBuilder.Server.LegacyImport;

/// <summary>How a run went: the copy's counts and the verification's findings.</summary>
public sealed class LegacyImportReport
{
    /// <summary>Files and bytes of the legacy volume that are migrated (the plan).</summary>
    public int Files { get; set; }

    public long Bytes { get; set; }

    public int Copied { get; set; }

    public long CopiedBytes { get; set; }

    /// <summary>Files whose identical blob (same size and SHA-256) was already in the store.</summary>
    public int Skipped { get; set; }

    /// <summary>Blobs whose size or SHA-256 differs from their legacy file (including existing artifacts that were not overwritten).</summary>
    public List<LegacyImportProblem> Mismatched { get; } = [];

    /// <summary>Blobs or metadata records that should exist and do not.</summary>
    public List<LegacyImportProblem> Missing { get; } = [];

    /// <summary>Files that could not be copied (after retries).</summary>
    public List<LegacyImportProblem> Failed { get; } = [];

    public int Verified { get; set; }

    public long VerifiedBytes { get; set; }

    public int Projects { get; set; }

    public int Builds { get; set; }

    /// <summary>True when every migrated file is in the store with its exact content and every record exists.</summary>
    public bool Clean => Mismatched.Count == 0 && Missing.Count == 0 && Failed.Count == 0;
}
