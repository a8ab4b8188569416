using System.IO.Compression;
using AutoBuilder.Core.Builds;
using AutoBuilder.EndToEnd.Tests.Infrastructure;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>
/// The operator's registry settings (Toolchains:Npm:*, Toolchains:NuGet:ConfigFile) reach the build in its HOME — never
/// its source folder, so never result.zip — and their secrets are masked in the log even when the build prints them.
/// </summary>
public sealed class RegistrySettingsTests(RegistrySettingsTests.Fixture fixture) : IClassFixture<RegistrySettingsTests.Fixture>
{
    public const string NpmToken = "npm_FakeToken0123456789";
    public const string NuGetPassword = "nuget-Secret-987654";

    public sealed class Fixture : ServerFixture
    {
        private readonly string _nugetConfig = WriteNuGetConfig();

        protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
        {
            ["Toolchains:Npm:Registry"] = "https://registry.example.test/npm/",
            ["Toolchains:Npm:AuthToken"] = NpmToken,
            ["Toolchains:NuGet:ConfigFile"] = _nugetConfig,
        };

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
        Assert.Contains("***", log, StringComparison.Ordinal);
        var result = Directory.GetFiles(fixture.Server.BlobRoot, "result.zip", SearchOption.AllDirectories).Single(f => f.Contains(build.ProjectId, StringComparison.Ordinal));
        using var zip = ZipFile.OpenRead(result);
        Assert.Contains(zip.Entries, e => e.FullName == "out/ok.txt");
        Assert.DoesNotContain(zip.Entries, e => e.Name is ".npmrc" or "NuGet.Config");
    }
}
