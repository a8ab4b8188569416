using System.ComponentModel.DataAnnotations;
using AutoBuilder.Core.Protocol;

namespace AutoBuilder.Server.Hosting;

/// <summary>Section "Builds".</summary>
public sealed class BuildOptions
{
    public const string Section = "Builds";

    [Range(typeof(TimeSpan), "00:00:01", "2.00:00:00")]
    public TimeSpan DefaultTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>The most an autobuilder.yml may ask for.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "2.00:00:00")]
    public TimeSpan MaxTimeout { get; set; } = TimeSpan.FromHours(6);

    /// <summary>The most of a build's output its log keeps (per attempt); past it the output is dropped, the build goes on.</summary>
    [Range(typeof(long), "65536", "1099511627776")]
    public long MaxLogBytes { get; set; } = BuildLimits.DefaultMaxLogBytes;

    /// <summary>The most a build's workspace (source, HOME, TMPDIR) may hold; a build that writes more fails.</summary>
    [Range(1024 * 1024, long.MaxValue)]
    public long MaxWorkspaceBytes { get; set; } = BuildLimits.DefaultMaxWorkspaceBytes;

    /// <summary>
    /// The most a runner may append to one build log through a signed link: every attempt's output limit plus
    /// AutoBuilder's own lines. The runner keeps far below it; it stops a runner (or a build holding its link) that does not.
    /// </summary>
    public long LogAppendCap(int maxAttempts) => (MaxLogBytes + BuildLimits.OwnLinesAllowance) * maxAttempts;

    /// <summary>How long a signed URL given to a runner lasts: as long as the longest build could.</summary>
    public TimeSpan RunnerLinkLifetime => MaxTimeout + TimeSpan.FromHours(1);
}
