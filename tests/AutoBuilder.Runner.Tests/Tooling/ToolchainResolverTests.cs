using AutoBuilder.Core.Protocol;
using AutoBuilder.Runner.Configuration;
using AutoBuilder.Runner.Tooling;

namespace AutoBuilder.Runner.Tests.Tooling;

public sealed class ToolchainResolverTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData("pom.xml", "maven")]
    [InlineData("build.gradle", "gradle")]
    [InlineData("build.gradle.kts", "gradle")]
    [InlineData("package.json", "npm")]
    [InlineData("App.sln", "dotnet")]
    [InlineData("App.csproj", "dotnet")]
    [InlineData("build.sh", "script")]
    public void Detect_ProjectFile_FindsToolchain(string file, string expected)
    {
        _temp.Write(file, "");
        Assert.Equal(expected, ToolchainResolver.Detect(_temp.Path));
    }

    [Fact]
    public void Detect_PomAndBuildScript_PrefersMaven()
    {
        _temp.Write("build.sh", "");
        _temp.Write("pom.xml", "");
        Assert.Equal("maven", ToolchainResolver.Detect(_temp.Path));
    }

    [Fact]
    public void Resolve_NothingToDetect_FailsWithHint()
    {
        _temp.Write("README.md", "");

        var ex = Assert.Throws<BuildFailureException>(() => ToolchainResolver.Resolve(Request()));

        Assert.StartsWith("no toolchain detected: add autobuilder.yml or one of", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Resolve_Maven_DefaultCommandUsesCacheSettingsAndOffline()
    {
        _temp.Write("src/pom.xml", "");
        var settings = _temp.Write("settings.xml", "<settings xmlns=\"http://maven.apache.org/SETTINGS/1.0.0\"><mirrors/></settings>");

        var resolved = ToolchainResolver.Resolve(Request(settings: new ToolchainSettings { MavenSettingsFile = settings, MavenOffline = true }));

        var repository = Path.Combine(_temp.Path, "cache", "maven", "repository");
        Assert.Equal($"mvn -B -s {_temp.Combine("home", ".m2", "settings.xml")} -o -Dmaven.repo.local={repository} package", resolved.Command);
        Assert.Equal($"-Duser.home={_temp.Combine("home")} -Dmaven.repo.local={repository}", resolved.Environment["MAVEN_OPTS"]);
        Assert.Equal(ToolchainResolver.MavenArtifacts, resolved.Artifacts);
        Assert.Equal(ToolchainResolver.MavenArtifacts, resolved.Outputs);
        // Custom commands see the same settings (with offline) as ~/.m2/settings.xml.
        var userSettings = resolved.HomeFiles[".m2/settings.xml"];
        Assert.Contains("<offline>true</offline>", userSettings, StringComparison.Ordinal);
        Assert.Contains("<mirrors", userSettings, StringComparison.Ordinal);
    }

    [Fact]
    public void Resolve_MavenWithoutSettings_NoHomeFiles()
    {
        _temp.Write("src/pom.xml", "");
        var resolved = ToolchainResolver.Resolve(Request());
        Assert.Empty(resolved.HomeFiles);
        Assert.DoesNotContain(" -s ", resolved.Command, StringComparison.Ordinal);
        Assert.DoesNotContain(" -o", resolved.Command, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true, "./gradlew --no-daemon build")]
    [InlineData(false, "gradle --no-daemon build")]
    public void Resolve_Gradle_WrapperIfPresentAndNoDaemon(bool wrapper, string command)
    {
        _temp.Write("src/build.gradle", "");
        if (wrapper)
        {
            _temp.Write("src/gradlew", "");
        }

        var resolved = ToolchainResolver.Resolve(Request());

        Assert.Equal(command, resolved.Command);
        Assert.Equal(Path.Combine(_temp.Path, "cache", "gradle"), resolved.Environment["GRADLE_USER_HOME"]);
        Assert.Equal("-Dorg.gradle.daemon=false", resolved.Environment["GRADLE_OPTS"]);
        Assert.Equal(["build/libs/*.jar"], resolved.Artifacts);
    }

    [Theory]
    [InlineData("package-lock.json", "npm ci && npm run build && npm pack", "npm")]
    [InlineData("npm-shrinkwrap.json", "npm ci && npm run build && npm pack", "npm")]
    [InlineData("yarn.lock", "corepack yarn install --frozen-lockfile && corepack yarn run build && npm pack", "corepack")]
    [InlineData("pnpm-lock.yaml", "corepack pnpm install --frozen-lockfile && corepack pnpm run build && npm pack", "corepack")]
    [InlineData(null, "npm install && npm run build && npm pack", "npm")]
    public void Resolve_Npm_InstallsByItsLockFile(string? lockFile, string command, string tool)
    {
        _temp.Write("src/package.json", """{"name": "lib", "version": "1.2.3", "scripts": {"build": "tsc"}}""");
        if (lockFile is not null)
        {
            _temp.Write($"src/{lockFile}", "");
        }

        var resolved = ToolchainResolver.Resolve(Request());

        Assert.Equal(command, resolved.Command);
        Assert.Equal(tool, resolved.RequiredTool!.Program);
        Assert.Equal(["*.tgz"], resolved.Artifacts);
        Assert.Equal(Path.Combine(_temp.Path, "cache", "npm"), resolved.Environment["npm_config_cache"]);
        Assert.Equal("0", resolved.Environment["COREPACK_ENABLE_DOWNLOAD_PROMPT"]);
    }

    [Theory]
    [InlineData("""{"name": "app", "version": "1.0.0"}""", "npm ci && npm pack")]
    [InlineData("""{"name": "app", "version": "1.0.0", "private": true, "scripts": {"build": "vite build"}}""", "npm ci && npm run build")]
    [InlineData("""{"scripts": {"test": "x"}}""", "npm ci")]
    public void Resolve_Npm_BuildsOnlyWithABuildScript_PacksOnlyAPublishablePackage(string packageJson, string command)
    {
        _temp.Write("src/package.json", packageJson);
        _temp.Write("src/package-lock.json", "{}");

        var resolved = ToolchainResolver.Resolve(Request());

        Assert.Equal(command, resolved.Command);
        Assert.Equal(command.EndsWith("npm pack", StringComparison.Ordinal) ? ["*.tgz"] : [], resolved.Artifacts);
    }

    [Fact]
    public void Resolve_Npm_UnreadablePackageJson_FailsNamingIt()
    {
        _temp.Write("src/package.json", "{ not json");

        var ex = Assert.Throws<BuildFailureException>(() => ToolchainResolver.Resolve(Request()));

        Assert.StartsWith("package.json cannot be read as JSON", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true, "sh ./mvnw -B", null)]
    [InlineData(false, "mvn -B", "mvn")]
    public void Resolve_Maven_WrapperIfPresent(bool wrapper, string start, string? tool)
    {
        _temp.Write("src/pom.xml", "");
        if (wrapper)
        {
            _temp.Write("src/mvnw", "");
        }

        var resolved = ToolchainResolver.Resolve(Request());

        Assert.StartsWith(start + " ", resolved.Command, StringComparison.Ordinal);
        Assert.Equal(tool, resolved.RequiredTool?.Program);
    }

    [Theory]
    [InlineData(new[] { "App.sln", "App/App.csproj" }, "dotnet publish App.sln -c Release", "**/bin/Release/*/publish/**")]
    [InlineData(new[] { "Tool.slnx" }, "dotnet publish Tool.slnx -c Release", "**/bin/Release/*/publish/**")]
    [InlineData(new[] { "App.csproj" }, "dotnet publish App.csproj -c Release -o out", "out/**")]
    public void Resolve_DotNet_TheSolutionOrTheSingleProject(string[] files, string command, string outputs)
    {
        foreach (var file in files)
        {
            _temp.Write($"src/{file}", "");
        }

        var resolved = ToolchainResolver.Resolve(Request());

        Assert.Equal(command, resolved.Command);
        Assert.Equal([outputs], resolved.Outputs);
        Assert.Equal("dotnet", resolved.RequiredTool!.Program);
        Assert.Equal(Path.Combine(_temp.Path, "cache", "nuget"), resolved.Environment["NUGET_PACKAGES"]);
    }

    [Theory]
    [InlineData(new[] { "A.csproj", "B.csproj" }, "more than one project at the source root (A.csproj, B.csproj)")]
    [InlineData(new[] { "A.sln", "B.sln" }, "more than one solution at the source root (A.sln, B.sln)")]
    public void Resolve_DotNet_Ambiguous_FailsAskingWhichToBuild(string[] files, string expected)
    {
        foreach (var file in files)
        {
            _temp.Write($"src/{file}", "");
        }

        var ex = Assert.Throws<BuildFailureException>(() => ToolchainResolver.Resolve(Request()));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);

        // A command of the user's says which: nothing is refused then.
        Assert.Equal("dotnet build B.csproj", ToolchainResolver.Resolve(Request(new BuildConfig { Command = "dotnet build B.csproj" })).Command);
    }

    [Fact]
    public void Resolve_Npm_WithTheOperatorsRegistry_WritesItAndItsScopedTokenToTheUsersNpmrc()
    {
        _temp.Write("src/package.json", "{}");

        var resolved = ToolchainResolver.Resolve(Request(settings: new ToolchainSettings { NpmRegistry = "https://npm.example.test/repo", NpmAuthToken = "npm_secret123" }));

        Assert.Equal("registry=https://npm.example.test/repo/\n//npm.example.test/repo/:_authToken=npm_secret123\n", resolved.HomeFiles[".npmrc"]);
        Assert.Empty(ToolchainResolver.Resolve(Request()).HomeFiles);
    }

    [Fact]
    public void Resolve_DotNet_WithTheOperatorsNuGetConfig_CopiesItAsTheUsersConfig_OrFailsNamingIt()
    {
        _temp.Write("src/App.csproj", "");
        var config = _temp.Write("NuGet.Config", "<configuration><packageSources><add key=\"mirror\" value=\"https://nuget.example.test/v3/index.json\" /></packageSources></configuration>");

        var resolved = ToolchainResolver.Resolve(Request(settings: new ToolchainSettings { NuGetConfigFile = config }));

        Assert.Equal(File.ReadAllText(config), resolved.HomeFiles[".nuget/NuGet/NuGet.Config"]);
        var ex = Assert.Throws<BuildFailureException>(() => ToolchainResolver.Resolve(Request(settings: new ToolchainSettings { NuGetConfigFile = _temp.Combine("missing.config") })));
        Assert.Contains("(Toolchains:NuGet:ConfigFile) cannot be read", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RegistrySecrets_AreTheNpmTokenAndTheNuGetConfigsPasswordsAndKeys()
    {
        var config = _temp.Write("NuGet.Config", """
            <configuration>
              <packageSourceCredentials><mirror><add key="Username" value="builder" /><add key="ClearTextPassword" value="p4ssw0rd-secret" /></mirror></packageSourceCredentials>
              <apikeys><add key="https://nuget.example.test" value="api-key-secret" /></apikeys>
            </configuration>
            """);

        var secrets = RegistrySecrets.Of(new ToolchainSettings { NpmAuthToken = "npm_secret123", NuGetConfigFile = config });

        Assert.Equal(["npm_secret123", "p4ssw0rd-secret", "api-key-secret"], secrets);
    }

    [Fact]
    public void Resolve_Gradle_WithTheOperatorsInitScriptAndMirror_WritesBothToHomeAndPassesThemToTheDefaultCommand()
    {
        _temp.Write("src/build.gradle", "");
        var operatorScript = _temp.Write("operator.gradle", "// the operator's\n");
        var settings = new ToolchainSettings
        {
            GradleInitScript = operatorScript,
            GradleMirrorUrl = "https://repo.example.test/maven/",
            GradleMirrorUsername = "mirror-user",
            GradleMirrorPassword = "it's-a-secret\\",
        };

        var resolved = ToolchainResolver.Resolve(Request(settings: settings));

        var home = _temp.Combine("home");
        Assert.Equal(
            $"gradle --no-daemon --init-script {ToolchainResolver.ShellQuote(home + "/.gradle/init.d/autobuilder-mirror.gradle")} --init-script {ToolchainResolver.ShellQuote(home + "/.gradle/init.d/autobuilder-operator.gradle")} build",
            resolved.Command);
        Assert.Equal("// the operator's\n", resolved.HomeFiles[".gradle/init.d/autobuilder-operator.gradle"]);
        var mirror = resolved.HomeFiles[".gradle/init.d/autobuilder-mirror.gradle"];
        Assert.Contains("repository.url = 'https://repo.example.test/maven/'", mirror, StringComparison.Ordinal);
        // Gradle compiles init scripts into its cache (the project's, which outlives the build): no credential in the script.
        Assert.DoesNotContain("mirror-user", mirror, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", mirror, StringComparison.Ordinal);
        Assert.Contains(".gradle/autobuilder-mirror.properties", mirror, StringComparison.Ordinal);
        Assert.Equal("username=bWlycm9yLXVzZXI=\npassword=aXQncy1hLXNlY3JldFw=\n", resolved.HomeFiles[".gradle/autobuilder-mirror.properties"]);
        Assert.Equal(3, resolved.HomeFiles.Count);
    }

    [Fact]
    public void Resolve_Gradle_WithoutSettings_NoInitScripts()
    {
        _temp.Write("src/build.gradle", "");
        var resolved = ToolchainResolver.Resolve(Request());
        Assert.Empty(resolved.HomeFiles);
        Assert.DoesNotContain("--init-script", resolved.Command, StringComparison.Ordinal);
        Assert.DoesNotContain("credentials", ToolchainResolver.GradleMirrorScript("https://m.test/", withCredentials: false), StringComparison.Ordinal);
    }

    [Fact]
    public void Resolve_Gradle_UnreadableInitScript_FailsNamingTheSetting()
    {
        _temp.Write("src/build.gradle", "");
        var ex = Assert.Throws<BuildFailureException>(() => ToolchainResolver.Resolve(Request(settings: new ToolchainSettings { GradleInitScript = _temp.Combine("missing.gradle") })));
        Assert.Contains("(Toolchains:Gradle:InitScript) cannot be read", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RegistrySecrets_IncludeTheGradleMirrorPasswordAndTheInitScriptsQuotedCredentials()
    {
        var script = _temp.Write("init.gradle", """
            allprojects { repositories { maven {
                url 'https://corp.example.test/maven'
                credentials { username = 'builder'; password = 'init-script-secret' }
                credentials(HttpHeaderCredentials) { name = 'Private-Token'; value = "x" }
                authentication { header(HttpHeaderAuthentication) }
            } } }
            def apiToken = "token-value-123"
            """);

        var secrets = RegistrySecrets.Of(new ToolchainSettings { GradleMirrorPassword = "mirror-secret", GradleInitScript = script });

        Assert.Equal(["mirror-secret", "bWlycm9yLXNlY3JldA==", "init-script-secret", "token-value-123"], secrets);
    }

    [Fact]
    public void RequiredTool_MissingFromPath_NamesTheToolAndTheReason_OnlyForDefaultCommands()
    {
        _temp.Write("src/build.gradle", "");
        var resolved = ToolchainResolver.Resolve(Request());
        var emptyBin = Directory.CreateDirectory(_temp.Combine("bin")).FullName;

        Assert.Equal("gradle is not installed on this runner (build.gradle without ./gradlew); install it on the runner, or set command in autobuilder.yml",
            resolved.RequiredTool!.MissingFrom(emptyBin));
        Assert.Null(resolved.RequiredTool.MissingFrom("/usr/bin:/bin"));
        Assert.Null(ToolchainResolver.Resolve(Request(new BuildConfig { Command = "./my-gradle build" })).RequiredTool);
    }

    [Fact]
    public void Resolve_Script_DefaultsToBuildShWithNothingDeclared()
    {
        _temp.Write("src/build.sh", "");
        var resolved = ToolchainResolver.Resolve(Request());
        Assert.Equal("sh build.sh", resolved.Command);
        Assert.Empty(resolved.Outputs);
        Assert.Empty(resolved.Artifacts);
    }

    [Fact]
    public void Resolve_Commands_SpecOverridesYmlOverridesDefault()
    {
        _temp.Write("src/pom.xml", "");
        var yml = new BuildConfig { Command = "mvn -B verify" };

        Assert.Equal("mvn -B verify", ToolchainResolver.Resolve(Request(yml)).Command);
        Assert.Equal("make", ToolchainResolver.Resolve(Request(yml, command: "make")).Command);
    }

    [Fact]
    public void Resolve_SingleCommand_IsOneStepNamedBuild()
    {
        _temp.Write("src/build.sh", "");

        Assert.Equal([new StepDefinition("build", "sh build.sh")], ToolchainResolver.Resolve(Request()).StepsToRun);
        Assert.Equal([new StepDefinition("build", "make")], ToolchainResolver.Resolve(Request(new BuildConfig { Command = "make" })).StepsToRun);
    }

    [Fact]
    public void Resolve_YmlSteps_RunInOrder_TheSpecsCommandReplacesThemWithOneStep()
    {
        _temp.Write("src/pom.xml", "");
        var steps = new List<StepDefinition> { new("compile", "mvn -B compile"), new("test", "mvn -B test", TimeSpan.FromMinutes(5)) };
        var yml = new BuildConfig { Steps = steps };

        var resolved = ToolchainResolver.Resolve(Request(yml));
        Assert.Equal(steps, resolved.StepsToRun);
        Assert.Equal("steps: compile, test", resolved.Command);
        Assert.Null(resolved.RequiredTool); // the steps bring their own commands

        var overridden = ToolchainResolver.Resolve(Request(yml, command: "make"));
        Assert.Equal([new StepDefinition("build", "make")], overridden.StepsToRun);
        Assert.Equal("make", overridden.Command);
    }

    [Fact]
    public void Resolve_Toolchains_SpecOverridesYmlOverridesDetection()
    {
        _temp.Write("src/pom.xml", "");
        var yml = new BuildConfig { Toolchain = "script" };

        Assert.Equal("script", ToolchainResolver.Resolve(Request(yml)).Name);
        Assert.Equal("gradle", ToolchainResolver.Resolve(Request(yml, toolchain: "gradle")).Name);
    }

    [Fact]
    public void Resolve_YmlArtifactsOnly_OutputsDefaultToThem()
    {
        _temp.Write("src/build.sh", "");
        var resolved = ToolchainResolver.Resolve(Request(new BuildConfig { Artifacts = ["dist/*.tgz"] }));
        Assert.Equal(["dist/*.tgz"], resolved.Outputs);
        Assert.Equal(["dist/*.tgz"], resolved.Artifacts);
    }

    [Fact]
    public void Resolve_UnknownRequestedToolchain_Fails()
    {
        _temp.Write("src/pom.xml", "");
        var ex = Assert.Throws<BuildFailureException>(() => ToolchainResolver.Resolve(Request(toolchain: "ant")));
        Assert.Contains("unknown toolchain 'ant'", ex.Message, StringComparison.Ordinal);
    }

    private ToolchainRequest Request(BuildConfig? config = null, string? toolchain = null, string? command = null, ToolchainSettings? settings = null)
    {
        var source = _temp.Combine("src");
        Directory.CreateDirectory(source);
        return new ToolchainRequest(source, config ?? BuildConfig.Empty, toolchain, command, settings ?? new ToolchainSettings(), _temp.Combine("cache"), _temp.Combine("home"));
    }
}
