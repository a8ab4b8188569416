namespace AutoBuilder.Server.Hosting;

/// <summary>Section "Toolchains:Maven".</summary>
public sealed class MavenToolchainOptions
{
    /// <summary>A settings.xml passed to Maven with -s (a corporate mirror, say).</summary>
    public string? SettingsFile { get; set; }

    public bool Offline { get; set; }
}
