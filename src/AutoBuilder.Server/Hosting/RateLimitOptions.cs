using System.ComponentModel.DataAnnotations;

namespace AutoBuilder.Server.Hosting;

/// <summary>Section "RateLimits": a token bucket per API user (per remote address before authentication).</summary>
public sealed class RateLimitOptions
{
    public const string Section = "RateLimits";

    /// <summary>Requests a second a caller may make in the long run.</summary>
    [Range(1, 1_000_000)]
    public int PermitsPerSecond { get; set; } = 50;

    /// <summary>Requests a caller may make at once (the bucket's size).</summary>
    [Range(1, 1_000_000)]
    public int Burst { get; set; } = 100;
}
