using System.ComponentModel.DataAnnotations;

namespace AutoBuilder.Server.Hosting;

/// <summary>Section "Dispatcher".</summary>
public sealed class DispatcherOptions
{
    public const string Section = "Dispatcher";

    [Range(1, 10_000)]
    public int MaxConcurrentBuilds { get; set; } = Environment.ProcessorCount;

    /// <summary>Running builds one user may hold; 0 = no limit beyond the global one.</summary>
    [Range(0, 10_000)]
    public int MaxConcurrentBuildsPerUser { get; set; }

    /// <summary>Attempts per build; infrastructure failures (runner lost) are retried until this many.</summary>
    [Range(1, 20)]
    public int MaxAttempts { get; set; } = 3;

    [Range(typeof(TimeSpan), "00:00:02", "01:00:00")]
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(30);

    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Where this dispatcher's runners reach the API; default: Server:PublicUrl, or this process's own address when it serves the API too.</summary>
    public Uri? ApiUrl { get; set; }

    /// <summary>Names this dispatcher in leases; default: stable across restarts on one machine, data folder (and, for --role dispatcher, listening address).</summary>
    public string? InstanceId { get; set; }

    /// <summary>Grace on top of a build's timeout before the executor kills a runner that did not stop itself.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan TimeoutGrace { get; set; } = TimeSpan.FromMinutes(2);
}
