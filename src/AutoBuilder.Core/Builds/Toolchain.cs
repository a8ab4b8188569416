namespace AutoBuilder.Core.Builds;

/// <summary>The toolchains AutoBuilder knows, by their wire names.</summary>
public static class Toolchains
{
    public const string Maven = "maven";
    public const string Gradle = "gradle";
    public const string Npm = "npm";
    public const string DotNet = "dotnet";
    public const string Script = "script";

    public static IReadOnlyList<string> All { get; } = [Maven, Gradle, Npm, DotNet, Script];

    public static bool IsKnown(string? name) => name is not null && All.Contains(name, StringComparer.Ordinal);
}
