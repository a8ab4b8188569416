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
    /// <summary>The program the default command needs on the runner's PATH, and why; null when the source brings its own (a wrapper).</summary>
    public RequiredTool? RequiredTool { get; init; }
    /// <summary>
    /// What runs, in order: autobuilder.yml's steps, else one step named "build" running <see cref="Command"/> (empty
    /// means that one step too).
    /// </summary>
    public IReadOnlyList<StepDefinition> Steps { get; init; } = [];

    /// <summary><see cref="Steps"/>, or the one step of <see cref="Command"/>.</summary>
    public IReadOnlyList<StepDefinition> StepsToRun => Steps.Count > 0 ? Steps : [new StepDefinition(BuildSteps.DefaultName, Command)];
}

/// <summary>A program a default command runs, and what in the source asked for it (for the "not installed" message).</summary>
public sealed record RequiredTool(string Program, string Reason)
{
    /// <summary>Null when <see cref="Program"/> is on <paramref name="path"/>; else the build's failure message.</summary>
    public string? MissingFrom(string path) =>
        Processes.Executables.Find(Program, path) is not null
            ? null
            : $"{Program} is not installed on this runner ({Reason}); install it on the runner, or set command in autobuilder.yml";
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

        var customCommand = (request.RequestedCommand ?? request.Config.Command) is not null || request.Config.Steps is not null;
        var defaults = name switch
        {
            Toolchains.Maven => Maven(request),
            Toolchains.Gradle => Gradle(request),
            Toolchains.Npm => Npm(request, customCommand),
            Toolchains.DotNet => DotNet(request, customCommand),
            _ => new ResolvedToolchain { Name = name, Command = "sh build.sh", Outputs = [], Artifacts = [] },
        };

        // Precedence: the spec's command, then autobuilder.yml's steps or command, then the default. The spec's command
        // replaces the steps with one step. Outputs default to the artifacts.
        var artifacts = request.Config.Artifacts ?? defaults.Artifacts;
        var steps = request.RequestedCommand is null ? request.Config.Steps : null;
        var command = request.RequestedCommand ?? request.Config.Command ?? (steps is null ? null : Describe(steps));
        return defaults with
        {
            Command = command ?? defaults.Command,
            Steps = steps ?? [],
            // Only the default command is known to need the tool; a custom command may bring its own.
            RequiredTool = command is null ? defaults.RequiredTool : null,
            Artifacts = artifacts,
            Outputs = request.Config.Outputs ?? (request.Config.Artifacts is not null ? artifacts : Union(defaults.Outputs, artifacts)),
        };
    }

    /// <summary>The build's command as the API and the log show it when it runs steps: "steps: build, test, package".</summary>
    public static string Describe(IReadOnlyList<StepDefinition> steps) => "steps: " + string.Join(", ", steps.Select(s => s.Name));

    private static ResolvedToolchain Maven(ToolchainRequest request)
    {
        var repository = Path.Combine(request.CacheDirectory, "maven", "repository");
        var settings = request.Settings;
        // The repository's own Maven (the version it was written for) when it ships the wrapper, as hosted CI does.
        var wrapper = File.Exists(Path.Combine(request.SourceRoot, "mvnw"));
        var command = wrapper ? "sh ./mvnw -B" : "mvn -B";
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
            RequiredTool = wrapper ? null : new RequiredTool("mvn", "pom.xml without ./mvnw"),
        };
    }

    /// <summary>The init scripts of the operator's Gradle settings, in the build's HOME (never its source or cache).</summary>
    public const string GradleInitFolder = ".gradle/init.d";
    public const string GradleOperatorInitScript = GradleInitFolder + "/autobuilder-operator.gradle";
    public const string GradleMirrorInitScript = GradleInitFolder + "/autobuilder-mirror.gradle";

    private static ResolvedToolchain Gradle(ToolchainRequest request)
    {
        // A build service must not leave daemons behind: --no-daemon for the default command,
        // GRADLE_OPTS for any other.
        var wrapper = File.Exists(Path.Combine(request.SourceRoot, "gradlew"));
        var homeFiles = GradleInitScripts(request.Settings);
        // GRADLE_USER_HOME is the project's cache, so Gradle does not look for init.d in HOME: the default command
        // names the scripts. (A custom command adds them itself: docs/ARCHITECTURE.md, "Toolchains".)
        var initScripts = string.Concat(homeFiles.Keys.Where(k => k.StartsWith(GradleInitFolder + "/", StringComparison.Ordinal)).Order(StringComparer.Ordinal)
            .Select(relative => $" --init-script {ShellQuote(Path.Combine(request.HomeDirectory, relative))}"));
        return new ResolvedToolchain
        {
            Name = Toolchains.Gradle,
            Command = (wrapper ? "./gradlew --no-daemon" : "gradle --no-daemon") + initScripts + " build",
            Outputs = [],
            Artifacts = GradleArtifacts,
            RequiredTool = wrapper ? null : new RequiredTool("gradle", "build.gradle without ./gradlew"),
            Environment = new Dictionary<string, string>
            {
                ["GRADLE_USER_HOME"] = Path.Combine(request.CacheDirectory, "gradle"),
                ["GRADLE_OPTS"] = "-Dorg.gradle.daemon=false",
            },
            HomeFiles = homeFiles,
        };
    }

    /// <summary>
    /// Toolchains:Gradle:InitScript, copied, and an init script pointing every Maven repository at Toolchains:Gradle:MirrorUrl,
    /// whose credentials it reads when it runs from a file beside it: Gradle compiles init scripts into its script cache in
    /// GRADLE_USER_HOME, the project's dependency cache, which outlives the build — a credential written into the script
    /// would outlive it there too.
    /// </summary>
    private static Dictionary<string, string> GradleInitScripts(ToolchainSettings settings)
    {
        var scripts = new Dictionary<string, string>(StringComparer.Ordinal);
        if (settings.GradleInitScript is { } operatorScript)
        {
            try
            {
                scripts[GradleOperatorInitScript] = File.ReadAllText(operatorScript);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new BuildFailureException($"the Gradle init script '{operatorScript}' (Toolchains:Gradle:InitScript) cannot be read: {ex.Message}", ex);
            }
        }

        if (settings.GradleMirrorUrl is { } mirror)
        {
            scripts[GradleMirrorInitScript] = GradleMirrorScript(mirror, withCredentials: settings.GradleMirrorUsername is not null || settings.GradleMirrorPassword is not null);
            if (settings.GradleMirrorUsername is not null || settings.GradleMirrorPassword is not null)
            {
                scripts[GradleMirrorCredentials] = $"username={Base64(settings.GradleMirrorUsername)}\npassword={Base64(settings.GradleMirrorPassword)}\n";
            }
        }

        return scripts;
    }

    /// <summary>The mirror's credentials (base64, so no value needs escaping), read by the mirror's init script; not an init script itself.</summary>
    public const string GradleMirrorCredentials = ".gradle/autobuilder-mirror.properties";

    private static string Base64(string? value) => Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(value ?? ""));

    /// <summary>
    /// Points every Maven repository a build declares — in its settings (plugin management, dependency resolution
    /// management), build scripts and projects, plugin portal included — at the mirror, with the credentials of
    /// $HOME/<see cref="GradleMirrorCredentials"/>. Written for Gradle 4.4 (Debian's) through 8: eager all { } rather than
    /// configureEach, and settings properties newer than 4.4 looked up first.
    /// </summary>
    public static string GradleMirrorScript(string url, bool withCredentials)
    {
        var credentials = withCredentials
            ? $$"""
                def autobuilderCredentials = new Properties()
                new File(System.getenv('HOME'), {{GroovyString(GradleMirrorCredentials)}}).withInputStream { autobuilderCredentials.load(it) }
                def autobuilderDecode = { key -> new String(autobuilderCredentials.getProperty(key, '').decodeBase64(), 'UTF-8') }

                """
            : "";
        var apply = withCredentials
            ? """

                            repository.credentials {
                                username = autobuilderDecode('username')
                                password = autobuilderDecode('password')
                            }
                """
            : "";
        return $$"""
            // Written by AutoBuilder from Toolchains:Gradle:MirrorUrl: every Maven repository resolves through the mirror.
            {{credentials}}def autobuilderMirror = { repositories ->
                repositories.all { repository ->
                    if (repository instanceof MavenArtifactRepository) {
                        repository.url = {{GroovyString(url)}}{{apply}}
                    }
                }
            }

            settingsEvaluated { settings ->
                if (settings.hasProperty('pluginManagement')) {
                    autobuilderMirror(settings.pluginManagement.repositories)
                }
                if (settings.hasProperty('buildscript')) {
                    autobuilderMirror(settings.buildscript.repositories)
                }
                if (settings.hasProperty('dependencyResolutionManagement')) {
                    autobuilderMirror(settings.dependencyResolutionManagement.repositories)
                }
            }

            allprojects {
                autobuilderMirror(buildscript.repositories)
                autobuilderMirror(repositories)
            }

            """;
    }

    /// <summary>A single-quoted Groovy string: no interpolation; backslashes and quotes escaped.</summary>
    private static string GroovyString(string value) =>
        "'" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal).Replace("\r", "\\r", StringComparison.Ordinal) + "'";

    /// <summary>
    /// What hosted CI services do with a package.json: install by the lock file present (npm ci, yarn or pnpm through
    /// corepack, npm install without one), run the build script only when there is one, and pack the package: its
    /// tarball ({name}-{version}.tgz) is the artifact.
    /// </summary>
    private static ResolvedToolchain Npm(ToolchainRequest request, bool customCommand)
    {
        var root = request.SourceRoot;
        var package = customCommand ? new PackageJson(HasBuildScript: false, Packable: false) : PackageJson.Read(Path.Combine(root, "package.json"));
        var (install, run, tool) = File.Exists(Path.Combine(root, "pnpm-lock.yaml")) ? ("corepack pnpm install --frozen-lockfile", "corepack pnpm run build", new RequiredTool("corepack", "pnpm-lock.yaml: pnpm runs through corepack"))
            : File.Exists(Path.Combine(root, "yarn.lock")) ? ("corepack yarn install --frozen-lockfile", "corepack yarn run build", new RequiredTool("corepack", "yarn.lock: yarn runs through corepack"))
            : File.Exists(Path.Combine(root, "package-lock.json")) || File.Exists(Path.Combine(root, "npm-shrinkwrap.json")) ? ("npm ci", "npm run build", new RequiredTool("npm", "package.json"))
            : ("npm install", "npm run build", new RequiredTool("npm", "package.json"));
        var command = package.HasBuildScript ? $"{install} && {run}" : install;
        return new ResolvedToolchain
        {
            Name = Toolchains.Npm,
            Command = package.Packable ? command + " && npm pack" : command,
            Outputs = ["dist/**"],
            Artifacts = package.Packable ? ["*.tgz"] : [],
            Environment = NpmEnvironment(request),
            RequiredTool = tool,
            HomeFiles = NpmUserConfig(request.Settings) is { } npmrc ? new Dictionary<string, string> { [".npmrc"] = npmrc } : new Dictionary<string, string>(),
        };
    }

    private static Dictionary<string, string> NpmEnvironment(ToolchainRequest request)
    {
        var environment = new Dictionary<string, string>
        {
            ["npm_config_cache"] = Path.Combine(request.CacheDirectory, "npm"),
            ["COREPACK_HOME"] = Path.Combine(request.CacheDirectory, "corepack"),
            // corepack must not stop a non-interactive build to ask before downloading yarn or pnpm.
            ["COREPACK_ENABLE_DOWNLOAD_PROMPT"] = "0",
            ["npm_config_update_notifier"] = "false",
            ["npm_config_fund"] = "false",
        };
        if (!request.Settings.NpmVerifyCorepackSignatures)
        {
            environment["COREPACK_INTEGRITY_KEYS"] = "0"; // the operator's mirror serves no signatures
        }

        return environment;
    }

    /// <summary>~/.npmrc with the operator's registry and token (npm, yarn 1 and pnpm read it); null when none is set.</summary>
    private static string? NpmUserConfig(ToolchainSettings settings)
    {
        if (settings.NpmRegistry is null)
        {
            return null;
        }

        var registry = new Uri(settings.NpmRegistry.EndsWith('/') ? settings.NpmRegistry : settings.NpmRegistry + "/");
        var npmrc = $"registry={registry}\n";
        // The token is scoped to the registry's host and path ("//host/path/:_authToken"), so npm sends it nowhere else.
        return settings.NpmAuthToken is null ? npmrc : npmrc + $"//{registry.Authority}{registry.AbsolutePath}:_authToken={settings.NpmAuthToken}\n";
    }

    /// <summary>The operator's NuGet.Config as the build's user-level config (~/.nuget/NuGet/NuGet.Config).</summary>
    private static Dictionary<string, string> NuGetUserConfig(ToolchainSettings settings)
    {
        if (settings.NuGetConfigFile is null)
        {
            return [];
        }

        try
        {
            return new Dictionary<string, string> { [".nuget/NuGet/NuGet.Config"] = File.ReadAllText(settings.NuGetConfigFile) };
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new BuildFailureException($"the NuGet config '{settings.NuGetConfigFile}' (Toolchains:NuGet:ConfigFile) cannot be read: {ex.Message}", ex);
        }
    }

    /// <summary>What the default npm command needs to know of package.json.</summary>
    /// <param name="HasBuildScript">scripts.build exists (npm run build fails without one).</param>
    /// <param name="Packable">name and version are set and the package is not private: `npm pack` makes its tarball.</param>
    private sealed record PackageJson(bool HasBuildScript, bool Packable)
    {
        public static PackageJson Read(string path)
        {
            try
            {
                using var stream = File.OpenRead(path);
                using var document = System.Text.Json.JsonDocument.Parse(stream);
                var root = document.RootElement;
                if (root.ValueKind != System.Text.Json.JsonValueKind.Object)
                {
                    throw new BuildFailureException("package.json must be a JSON object");
                }

                var hasBuild = root.TryGetProperty("scripts", out var scripts) && scripts.ValueKind == System.Text.Json.JsonValueKind.Object && scripts.TryGetProperty("build", out _);
                var isPrivate = root.TryGetProperty("private", out var privateFlag) && privateFlag.ValueKind == System.Text.Json.JsonValueKind.True;
                var named = root.TryGetProperty("name", out var name) && name.ValueKind == System.Text.Json.JsonValueKind.String
                    && root.TryGetProperty("version", out var version) && version.ValueKind == System.Text.Json.JsonValueKind.String;
                return new PackageJson(hasBuild, named && !isPrivate);
            }
            catch (Exception ex) when (ex is IOException or System.Text.Json.JsonException)
            {
                throw new BuildFailureException($"package.json cannot be read as JSON: {ex.Message}", ex);
            }
        }
    }

    /// <summary>
    /// The solution or the single project at the root. A solution is published without -o, which the SDK refuses for
    /// solutions: each publishable project lands in its own bin/Release/{tfm}/publish, all of which are the outputs.
    /// </summary>
    private static ResolvedToolchain DotNet(ToolchainRequest request, bool customCommand)
    {
        var root = request.SourceRoot;
        var solutions = Directory.EnumerateFiles(root, "*.sln").Concat(Directory.EnumerateFiles(root, "*.slnx")).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        var projects = Directory.EnumerateFiles(root, "*.csproj").Concat(Directory.EnumerateFiles(root, "*.fsproj")).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        var (command, outputs) = (solutions.Count, projects.Count, customCommand) switch
        {
            (_, _, true) => ("", (IReadOnlyList<string>)["out/**"]), // the custom command decides what it builds.
            (1, _, _) => ($"dotnet publish {ShellQuote(solutions[0]!)} -c Release", ["**/bin/Release/*/publish/**"]),
            (0, 1, _) => ($"dotnet publish {ShellQuote(projects[0]!)} -c Release -o out", ["out/**"]),
            (0, 0, _) => throw new BuildFailureException("dotnet: no solution (*.sln, *.slnx) or project (*.csproj, *.fsproj) at the source root; set command in autobuilder.yml"),
            _ => throw new BuildFailureException(
                $"dotnet: more than one {(solutions.Count > 1 ? "solution" : "project")} at the source root ({string.Join(", ", solutions.Count > 1 ? solutions : projects)}): set command in autobuilder.yml to say which to build"),
        };
        return new ResolvedToolchain
        {
            Name = Toolchains.DotNet,
            Command = command,
            Outputs = outputs,
            Artifacts = [],
            Environment = new Dictionary<string, string>
            {
                ["NUGET_PACKAGES"] = Path.Combine(request.CacheDirectory, "nuget"),
                ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
                ["DOTNET_NOLOGO"] = "1",
                ["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1",
            },
            RequiredTool = customCommand ? null : new RequiredTool("dotnet", solutions.Count == 1 ? solutions[0]! : projects[0]!),
            HomeFiles = NuGetUserConfig(request.Settings),
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
