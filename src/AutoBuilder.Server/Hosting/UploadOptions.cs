using System.ComponentModel.DataAnnotations;

namespace AutoBuilder.Server.Hosting;

/// <summary>Section "Uploads".</summary>
public sealed class UploadOptions
{
    public const string Section = "Uploads";

    /// <summary>Largest accepted source ZIP; enforced while streaming.</summary>
    [Range(1024, long.MaxValue)]
    public long MaxBytes { get; set; } = 4L * 1024 * 1024 * 1024;

    /// <summary>Most entries (files and folders) in one archive.</summary>
    [Range(1, 10_000_000)]
    public int MaxEntries { get; set; } = 100_000;

    /// <summary>Most bytes all entries together may extract to (declared sizes; the runner stops at them too).</summary>
    [Range(1024, long.MaxValue)]
    public long MaxUncompressedBytes { get; set; } = 8L * 1024 * 1024 * 1024;

    /// <summary>Highest ratio of the archive's declared uncompressed size to its size on the wire (zip bombs); judged once the content passes 1 MiB.</summary>
    [Range(1, 1_000_000)]
    public double MaxCompressionRatio { get; set; } = 200;
}
