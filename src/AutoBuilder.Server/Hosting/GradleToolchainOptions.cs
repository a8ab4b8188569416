namespace AutoBuilder.Server.Hosting;

/// <summary>Section "Toolchains:Gradle": where Gradle builds resolve their plugins and dependencies.</summary>
public sealed class GradleToolchainOptions
{
    /// <summary>An init script of the operator's (repositories, credentials) every Gradle build runs with; copied to the build's HOME.</summary>
    public string? InitScript { get; set; }

    /// <summary>A Maven repository (a corporate mirror, say) every Maven repository of a Gradle build is pointed at, plugins included.</summary>
    [System.ComponentModel.DataAnnotations.Url]
    public string? MirrorUrl { get; set; }

    /// <summary>The mirror's user name and password (or token): written into the build's HOME only; the password is masked in logs.</summary>
    public string? MirrorUsername { get; set; }

    public string? MirrorPassword { get; set; }
}
