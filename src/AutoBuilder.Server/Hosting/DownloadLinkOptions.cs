using System.ComponentModel.DataAnnotations;

namespace AutoBuilder.Server.Hosting;

/// <summary>Section "Links": lifetimes of signed download links.</summary>
public sealed class DownloadLinkOptions
{
    public const string Section = "Links";

    [Range(typeof(TimeSpan), "00:00:10", "7.00:00:00")]
    public TimeSpan DefaultLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>The longest link a request may ask for with ?lifetime=SECONDS; DefaultLifetime must not exceed it.</summary>
    [Range(typeof(TimeSpan), "00:00:10", "7.00:00:00")]
    public TimeSpan MaxLifetime { get; set; } = TimeSpan.FromHours(24);
}
