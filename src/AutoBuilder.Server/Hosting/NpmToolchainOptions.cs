namespace AutoBuilder.Server.Hosting;

/// <summary>Section "Toolchains:Npm": the registry npm, yarn and pnpm builds install from.</summary>
public sealed class NpmToolchainOptions
{
    /// <summary>The registry URL (a corporate mirror, say); default: npm's own.</summary>
    [System.ComponentModel.DataAnnotations.Url]
    public string? Registry { get; set; }

    /// <summary>The registry's auth token: written into the build's ~/.npmrc (never the source folder), masked in logs.</summary>
    public string? AuthToken { get; set; }
}
