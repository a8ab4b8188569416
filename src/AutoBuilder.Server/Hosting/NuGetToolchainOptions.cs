namespace AutoBuilder.Server.Hosting;

/// <summary>Section "Toolchains:NuGet".</summary>
public sealed class NuGetToolchainOptions
{
    /// <summary>A NuGet.Config (package sources and their credentials) every .NET build uses as its user-level config.</summary>
    public string? ConfigFile { get; set; }
}
