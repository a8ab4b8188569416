using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml;
using System.Xml.Linq;
using AutoBuilder.Core;

namespace AutoBuilder.Runner.Versioning;

/// <summary>The version artifacts are promoted under, where it came from, and why a candidate was rejected.</summary>
public sealed record DetectedVersion(string Version, string Source, string? Warning = null);

/// <summary>
/// Picks the artifact version: autobuilder.yml, else the project file (pom.xml, build.gradle(.kts),
/// package.json, the one *.csproj/*.fsproj at the root), else the build number. A candidate that is not a valid version (e.g. an
/// unresolved "${revision}") falls back to the build number with a warning.
/// </summary>
public static partial class VersionDetector
{
    public static DetectedVersion Detect(string sourceRoot, string? configuredVersion, int buildNumber)
    {
        var fallback = buildNumber.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var (candidate, source) = configuredVersion is not null
            ? (configuredVersion, "autobuilder.yml")
            : FromProjectFiles(sourceRoot);

        if (candidate is null)
        {
            return new DetectedVersion(fallback, "build number");
        }

        return Ids.IsValidVersion(candidate)
            ? new DetectedVersion(candidate, source)
            : new DetectedVersion(fallback, "build number", $"version '{Printable.Of(candidate)}' from {source} is not a valid version; using the build number {fallback}");
    }

    private static (string? Version, string Source) FromProjectFiles(string sourceRoot)
    {
        var pom = Path.Combine(sourceRoot, "pom.xml");
        if (File.Exists(pom) && FromPom(pom) is { } pomVersion)
        {
            return (pomVersion, "pom.xml");
        }

        foreach (var name in new[] { "build.gradle", "build.gradle.kts" })
        {
            var path = Path.Combine(sourceRoot, name);
            if (File.Exists(path) && GradleVersion().Match(File.ReadAllText(path)) is { Success: true } match)
            {
                return (match.Groups["v"].Value, name);
            }
        }

        var packageJson = Path.Combine(sourceRoot, "package.json");
        if (File.Exists(packageJson) && FromPackageJson(packageJson) is { } npmVersion)
        {
            return (npmVersion, "package.json");
        }

        // The one .NET project at the root, as the default dotnet command builds it.
        var projects = Directory.EnumerateFiles(sourceRoot, "*.csproj").Concat(Directory.EnumerateFiles(sourceRoot, "*.fsproj")).ToList();
        if (projects.Count == 1 && FromMsBuildProject(projects[0]) is { } projectVersion)
        {
            return (projectVersion, Path.GetFileName(projects[0]));
        }

        return (null, "build number");
    }

    private static string? FromPom(string path)
    {
        try
        {
            // No DTDs: the pom is untrusted input (XXE).
            using var reader = XmlReader.Create(path, new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit });
            var project = XDocument.Load(reader).Root;
            var version = Child(project, "version") ?? Child(Child(project, "parent"), "version");
            return version?.Value.Trim();
        }
        catch (XmlException)
        {
            return null;
        }

        static XElement? Child(XElement? parent, string name) => parent?.Elements().FirstOrDefault(e => e.Name.LocalName == name);
    }

    /// <summary>&lt;Version&gt; of an SDK-style project's property groups; one built from properties ($(...)) is left to the build number.</summary>
    private static string? FromMsBuildProject(string path)
    {
        try
        {
            using var reader = XmlReader.Create(path, new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit });
            var version = XDocument.Load(reader).Root?.Elements().Where(e => e.Name.LocalName == "PropertyGroup")
                .SelectMany(group => group.Elements()).LastOrDefault(e => e.Name.LocalName == "Version")?.Value.Trim();
            return version is null || version.Contains("$(", StringComparison.Ordinal) ? null : version;
        }
        catch (XmlException)
        {
            return null;
        }
    }

    private static string? FromPackageJson(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            using var document = JsonDocument.Parse(stream);
            return document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("version", out var version)
                && version.ValueKind == JsonValueKind.String
                ? version.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    // version = '1.0'  |  version '1.0'  |  version = "1.0" (Groovy and Kotlin DSL), at the start of a line.
    [GeneratedRegex("""^\s*version\s*=?\s*['"](?<v>[^'"\r\n]+)['"]""", RegexOptions.Multiline)]
    private static partial Regex GradleVersion();
}
