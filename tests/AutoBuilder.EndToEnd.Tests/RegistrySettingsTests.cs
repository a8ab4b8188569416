using System.IO.Compression;
using AutoBuilder.Core.Builds;
using AutoBuilder.EndToEnd.Tests.Infrastructure;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>
/// The operator's registry settings (Toolchains:Npm:*, Toolchains:NuGet:ConfigFile, Toolchains:Gradle:*) reach the build in its HOME — never
/// its source folder, so never result.zip — and their secrets are masked in the log even when the build prints them.
/// </summary>
public sealed class RegistrySettingsTests(RegistrySettingsTests.Fixture fixture) : IClassFixture<RegistrySettingsTests.Fixture>
{
    public const string NpmToken = "npm_FakeToken0123456789";
    public const string NuGetPassword = "nuget-Secret-987654";
    public const string GradlePassword = "gradle-Secret-24680";
    public const string GradleInitScriptToken = "init-Token-13579";

    public sealed class Fixture : ServerFixture
    {
        private readonly string _nugetConfig = WriteNuGetConfig();
        private readonly string _gradleInitScript = WriteGradleInitScript();

        protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
        {
            ["Toolchains:Npm:Registry"] = "https://registry.example.test/npm/",
            ["Toolchains:Npm:AuthToken"] = NpmToken,
            ["Toolchains:NuGet:ConfigFile"] = _nugetConfig,
            ["Toolchains:Gradle:InitScript"] = _gradleInitScript,
            ["Toolchains:Gradle:MirrorUrl"] = "https://gradle.example.test/maven/",
            ["Toolchains:Gradle:MirrorUsername"] = "gradle-user",
            ["Toolchains:Gradle:MirrorPassword"] = GradlePassword,
        };

        private static string WriteGradleInitScript()
        {
            var path = Path.Combine(TestPaths.NewTempDirectory("gradle-init"), "corporate.gradle");
            File.WriteAllText(path, $"// corporate init script\nallprojects {{ ext.corpToken = '{GradleInitScriptToken}' }}\n");
            return path;
        }

        private static string WriteNuGetConfig()
        {
            var path = Path.Combine(TestPaths.NewTempDirectory("nuget-config"), "NuGet.Config");
            File.WriteAllText(path, $"""
                <configuration>
                  <packageSources><add key="mirror" value="https://nuget.example.test/v3/index.json" /></packageSources>
                  <packageSourceCredentials><mirror><add key="Username" value="builder" /><add key="ClearTextPassword" value="{NuGetPassword}" /></mirror></packageSourceCredentials>
                </configuration>
                """);
            return path;
        }
    }

    [Theory]
    [InlineData("npm", "package.json", "{}", "$HOME/.npmrc", "registry=https://registry.example.test/npm/", NpmToken)]
    [InlineData("dotnet", "App.csproj", "<Project />", "$HOME/.nuget/NuGet/NuGet.Config", "https://nuget.example.test/v3/index.json", NuGetPassword)]
    // The mirror's script (which holds no credential: Gradle caches compiled scripts) and the credentials it reads.
    [InlineData("gradle", "build.gradle", "", "$HOME/.gradle/init.d/autobuilder-mirror.gradle\" \"$HOME/.gradle/autobuilder-mirror.properties", "https://gradle.example.test/maven/", GradlePassword)]
    [InlineData("gradle", "build.gradle", "", "$HOME/.gradle/init.d/autobuilder-operator.gradle", "// corporate init script", GradleInitScriptToken)]
    public async Task RegistrySettings_ReachTheBuildsHome_TheirSecretsMasked_NothingInTheResult(
        string toolchain, string manifest, string manifestContent, string userConfig, string visible, string secret)
    {
        using var client = fixture.Server.CreateClient();
        var build = await ApiCalls.StartBuildAsync(client, $"{toolchain}-settings-{Guid.NewGuid():N}"[..24], new Dictionary<string, string>
        {
            [manifest] = manifestContent,
            ["autobuilder.yml"] = $"toolchain: {toolchain}\ncommand: cat \"{userConfig}\"; mkdir -p out; echo ok > out/ok.txt\noutputs: ['**']\n",
        });

        var ended = await ApiCalls.WaitForEndAsync(client, build.Id);

        var log = await ApiCalls.GetLogAsync(client, build.Id);
        Assert.True(ended.Status == BuildStatus.Succeeded, log);
        Assert.Contains(visible, log, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, log, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(secret)), log, StringComparison.Ordinal);
        Assert.Contains("***", log, StringComparison.Ordinal);
        var result = Directory.GetFiles(fixture.Server.BlobRoot, "result.zip", SearchOption.AllDirectories).Single(f => f.Contains(build.ProjectId, StringComparison.Ordinal));
        using var zip = ZipFile.OpenRead(result);
        Assert.Contains(zip.Entries, e => e.FullName == "out/ok.txt");
        Assert.DoesNotContain(zip.Entries, e => e.Name is ".npmrc" or "NuGet.Config" || e.Name.StartsWith("autobuilder-", StringComparison.Ordinal));
    }
}
