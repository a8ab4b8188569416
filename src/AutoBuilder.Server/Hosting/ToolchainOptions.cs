namespace AutoBuilder.Server.Hosting;

/// <summary>Section "Toolchains".</summary>
public sealed class ToolchainOptions
{
    public const string Section = "Toolchains";

    public MavenToolchainOptions Maven { get; set; } = new();

    public NpmToolchainOptions Npm { get; set; } = new();

    public NuGetToolchainOptions NuGet { get; set; } = new();

    public GradleToolchainOptions Gradle { get; set; } = new();
}
