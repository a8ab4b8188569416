namespace AutoBuilder.Server.Hosting;

/// <summary>Section "Toolchains:Npm": the registry npm, yarn and pnpm builds install from.</summary>
public sealed class NpmToolchainOptions
{
    /// <summary>The registry URL (a corporate mirror, say); default: npm's own.</summary>
    [System.ComponentModel.DataAnnotations.Url]
    public string? Registry { get; set; }

    /// <summary>The registry's auth token: written into the build's ~/.npmrc (never the source folder), masked in logs.</summary>
    public string? AuthToken { get; set; }

    /// <summary>
    /// Whether corepack checks the npm registry's signatures of the yarn or pnpm it downloads (default true). A mirror
    /// that serves package metadata without signatures (some proxies strip them) makes corepack fail with "No compatible
    /// signature found in package metadata"; false sets COREPACK_INTEGRITY_KEYS=0 for builds, leaving npm's own integrity
    /// hashes as the only check.
    /// </summary>
    public bool VerifyCorepackSignatures { get; set; } = true;
}
