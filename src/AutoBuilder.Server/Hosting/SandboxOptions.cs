namespace AutoBuilder.Server.Hosting;

/// <summary>Section "Sandbox": the build command's isolation under the local executor (bubblewrap).</summary>
public sealed class SandboxOptions
{
    public const string Section = "Sandbox";

    public SandboxMode Mode { get; set; } = SandboxMode.Auto;

    /// <summary>Give sandboxed builds the host's network (package registries, ...); default: none, not even the API.</summary>
    public bool Network { get; set; }

    /// <summary>
    /// When the server (or runner) runs as root, builds run as this unprivileged uid instead, inside and outside the
    /// sandbox, so that an escape would not be root. Pick a uid that no other account on the machine uses.
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(1, int.MaxValue)]
    public int BuildUid { get; set; } = DefaultBuildUid;

    /// <summary>The build user's group; default: the same number as <see cref="BuildUid"/>.</summary>
    [System.ComponentModel.DataAnnotations.Range(1, int.MaxValue)]
    public int? BuildGid { get; set; }

    /// <summary>Outside the ranges Debian gives to accounts (1000–59999) and to its packages (60000–63999 is free for sites).</summary>
    public const int DefaultBuildUid = 64000;
}
