using System.Xml;
using System.Xml.Linq;
using AutoBuilder.Core.Builds;
using AutoBuilder.Core.Protocol;
using AutoBuilder.Runner.Configuration;

namespace AutoBuilder.Runner.Tooling;

/// <summary>What to resolve a build's toolchain from.</summary>
/// <param name="SourceRoot">The project's root folder.</param>
/// <param name="Config">autobuilder.yml (or empty).</param>
/// <param name="RequestedToolchain">The spec's toolchain override, if any.</param>
/// <param name="RequestedCommand">The spec's command override, if any.</param>
/// <param name="Settings">Operator settings (Maven settings file, offline).</param>
/// <param name="CacheDirectory">Root of the dependency caches.</param>
/// <param name="HomeDirectory">The build's private HOME (Java tools read user.home, not $HOME).</param>
public sealed record ToolchainRequest(
    string SourceRoot,
    BuildConfig Config,
    string? RequestedToolchain,
    string? RequestedCommand,
    ToolchainSettings Settings,
    string CacheDirectory,
    string HomeDirectory);

/// <summary>The toolchain, command and file patterns of one build, and what the command's environment needs.</summary>
public sealed record ResolvedToolchain
{
    public required string Name { get; init; }
    public required string Command { get; init; }
    public required IReadOnlyList<string> Outputs { get; init; }
    public required IReadOnlyList<string> Artifacts { get; init; }
    /// <summary>Variables the toolchain needs (MAVEN_OPTS, GRADLE_USER_HOME, ...).</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();
    /// <summary>Files to write into the build's private HOME, by relative path (e.g. .m2/settings.xml).</summary>
    public IReadOnlyDictionary<string, string> HomeFiles { get; init; } = new Dictionary<string, string>();
}

/// <summary>Detects the toolchain from the source root and applies the defaults of docs/ARCHITECTURE.md, "Toolchains".</summary>
public static class ToolchainResolver
{
    public static readonly IReadOnlyList<string> MavenArtifacts =
        ["target/*.jar", "!target/*-sources.jar", "!target/*-javadoc.jar", "!target/original-*.jar"];

    public static readonly IReadOnlyList<string> GradleArtifacts = ["build/libs/*.jar"];

    /// <summary>The toolchain the files suggest, or null.</summary>
    public static string? Detect(string sourceRoot)
    {
        if (File.Exists(Path.Combine(sourceRoot, "pom.xml")))
        {
            return Toolchains.Maven;
        }

        if (File.Exists(Path.Combine(sourceRoot, "build.gradle")) || File.Exists(Path.Combine(sourceRoot, "build.gradle.kts")))
        {
            return Toolchains.Gradle;
        }

        if (File.Exists(Path.Combine(sourceRoot, "package.json")))
        {
            return Toolchains.Npm;
        }

        if (Directory.EnumerateFiles(sourceRoot, "*.sln").Any() || Directory.EnumerateFiles(sourceRoot, "*.slnx").Any()
            || Directory.EnumerateFiles(sourceRoot, "*.csproj").Any())
        {
            return Toolchains.DotNet;
        }

        return File.Exists(Path.Combine(sourceRoot, "build.sh")) ? Toolchains.Script : null;
    }

    /// <exception cref="BuildFailureException">No toolchain can be determined, or an unknown one was requested.</exception>
    public static ResolvedToolchain Resolve(ToolchainRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var name = request.RequestedToolchain ?? request.Config.Toolchain ?? Detect(request.SourceRoot)
            ?? throw new BuildFailureException(
                "no toolchain detected: add autobuilder.yml or one of pom.xml, build.gradle, build.gradle.kts, package.json, *.sln, *.csproj, build.sh");
        if (!Toolchains.IsKnown(name))
        {
            throw new BuildFailureException($"unknown toolchain '{name}'; known: {string.Join(", ", Toolchains.All)}");
        }

        var defaults = name switch
        {
            Toolchains.Maven => Maven(request),
            Toolchains.Gradle => Gradle(request),
            Toolchains.Npm => new ResolvedToolchain
            {
                Name = name,
                Command = "npm ci && npm run build",
                Outputs = ["dist/**"],
                Artifacts = [],
                Environment = new Dictionary<string, string> { ["npm_config_cache"] = Path.Combine(request.CacheDirectory, "npm") },
            },
            Toolchains.DotNet => new ResolvedToolchain
            {
                Name = name,
                Command = "dotnet publish -c Release -o out",
                Outputs = ["out/**"],
                Artifacts = [],
                Environment = new Dictionary<string, string>
                {
                    ["NUGET_PACKAGES"] = Path.Combine(request.CacheDirectory, "nuget"),
                    ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
                    ["DOTNET_NOLOGO"] = "1",
                },
            },
            _ => new ResolvedToolchain { Name = name, Command = "sh build.sh", Outputs = [], Artifacts = [] },
        };

        // Precedence: the spec's command, then autobuilder.yml's, then the default. Outputs default to the artifacts.
        var artifacts = request.Config.Artifacts ?? defaults.Artifacts;
        return defaults with
        {
            Command = request.RequestedCommand ?? request.Config.Command ?? defaults.Command,
            Artifacts = artifacts,
            Outputs = request.Config.Outputs ?? (request.Config.Artifacts is not null ? artifacts : Union(defaults.Outputs, artifacts)),
        };
    }

    private static ResolvedToolchain Maven(ToolchainRequest request)
    {
        var repository = Path.Combine(request.CacheDirectory, "maven", "repository");
        var settings = request.Settings;
        var command = "mvn -B";
        if (settings.MavenSettingsFile is not null)
        {
            // The copy in the build's HOME (see HomeFiles), not the operator's file: a sandboxed
            // command sees only its workspace, and the copy is the same settings.
            command += $" -s {ShellQuote(Path.Combine(request.HomeDirectory, ".m2", "settings.xml"))}";
        }

        if (settings.MavenOffline)
        {
            command += " -o";
        }

        command += $" -Dmaven.repo.local={ShellQuote(repository)} package";

        // Custom commands get the same repository, settings and offline mode through MAVEN_OPTS and
        // the private HOME's ~/.m2/settings.xml, which Maven reads when no -s is given. Maven finds
        // ~/.m2 through Java's user.home (from the passwd entry, not $HOME), hence -Duser.home.
        var homeFiles = new Dictionary<string, string>(StringComparer.Ordinal);
        var userSettings = UserSettings(settings);
        if (userSettings is not null)
        {
            homeFiles[".m2/settings.xml"] = userSettings;
        }

        return new ResolvedToolchain
        {
            Name = Toolchains.Maven,
            Command = command,
            Outputs = [],
            Artifacts = MavenArtifacts,
            Environment = new Dictionary<string, string> { ["MAVEN_OPTS"] = $"-Duser.home={request.HomeDirectory} -Dmaven.repo.local={repository}" },
            HomeFiles = homeFiles,
        };
    }

    private static ResolvedToolchain Gradle(ToolchainRequest request)
    {
        // A build service must not leave daemons behind: --no-daemon for the default command,
        // GRADLE_OPTS for any other.
        var wrapper = File.Exists(Path.Combine(request.SourceRoot, "gradlew"));
        return new ResolvedToolchain
        {
            Name = Toolchains.Gradle,
            Command = wrapper ? "./gradlew --no-daemon build" : "gradle --no-daemon build",
            Outputs = [],
            Artifacts = GradleArtifacts,
            Environment = new Dictionary<string, string>
            {
                ["GRADLE_USER_HOME"] = Path.Combine(request.CacheDirectory, "gradle"),
                ["GRADLE_OPTS"] = "-Dorg.gradle.daemon=false",
            },
        };
    }

    /// <summary>The operator's settings file, with &lt;offline&gt; applied, as ~/.m2/settings.xml content.</summary>
    private static string? UserSettings(ToolchainSettings settings)
    {
        if (settings.MavenSettingsFile is null && !settings.MavenOffline)
        {
            return null;
        }

        XNamespace ns = "http://maven.apache.org/SETTINGS/1.0.0";
        XDocument document;
        if (settings.MavenSettingsFile is not null)
        {
            try
            {
                using var reader = XmlReader.Create(settings.MavenSettingsFile, new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit });
                document = XDocument.Load(reader);
                ns = document.Root!.Name.Namespace;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or XmlException)
            {
                throw new BuildFailureException($"the Maven settings file '{settings.MavenSettingsFile}' (Toolchains:Maven:SettingsFile) cannot be read: {ex.Message}", ex);
            }
        }
        else
        {
            document = new XDocument(new XElement(ns + "settings"));
        }

        if (settings.MavenOffline)
        {
            document.Root!.Elements().Where(e => e.Name.LocalName == "offline").Remove();
            document.Root.AddFirst(new XElement(ns + "offline", "true"));
        }

        return document.ToString();
    }

    private static List<string> Union(IReadOnlyList<string> first, IReadOnlyList<string> second) =>
        [.. first, .. second.Where(s => !first.Contains(s))];

    /// <summary>Single-quotes a word for /bin/sh.</summary>
    public static string ShellQuote(string value) =>
        value.Length > 0 && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '/' or '.' or '-' or '_' or '=' or ':' or '+')
            ? value
            : "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
