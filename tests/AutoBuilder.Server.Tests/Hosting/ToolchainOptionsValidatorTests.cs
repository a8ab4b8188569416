using AutoBuilder.Server.Hosting;
using Microsoft.Extensions.Options;

namespace AutoBuilder.Server.Tests.Hosting;

/// <summary>Toolchains:* at start-up: operator files must exist (on local executors), Gradle's mirror settings must fit together.</summary>
public sealed class ToolchainOptionsValidatorTests : IDisposable
{
    private readonly string _script = Path.Combine(Path.GetTempPath(), $"autobuilder-init-{Guid.NewGuid():N}.gradle");

    public ToolchainOptionsValidatorTests() => File.WriteAllText(_script, "// init\n");

    public void Dispose() => File.Delete(_script);

    [Fact]
    public void Validate_GradleInitScriptAndMirrorWithCredentials_Succeeds()
    {
        var options = Gradle(new GradleToolchainOptions { InitScript = _script, MirrorUrl = "https://repo.example.test/maven/", MirrorUsername = "u", MirrorPassword = "p" });
        Assert.True(Validate(options).Succeeded);
    }

    [Theory]
    [InlineData("missing-init-script", null, null, "Toolchains:Gradle:InitScript names a file that does not exist.")]
    [InlineData(null, "ftp://repo.example.test/", null, "Toolchains:Gradle:MirrorUrl must be an absolute http(s) URL.")]
    [InlineData(null, "repo.example.test/maven", null, "Toolchains:Gradle:MirrorUrl must be an absolute http(s) URL.")]
    [InlineData(null, null, "secret", "Toolchains:Gradle:MirrorUsername and MirrorPassword need Toolchains:Gradle:MirrorUrl.")]
    public void Validate_BadGradleSettings_FailsNamingTheKey(string? initScript, string? mirrorUrl, string? password, string expected)
    {
        var options = Gradle(new GradleToolchainOptions
        {
            InitScript = initScript is null ? null : Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N"), initScript),
            MirrorUrl = mirrorUrl,
            MirrorPassword = password,
        });

        Assert.Equal(expected, Validate(options).FailureMessage);
    }

    [Fact]
    public void Validate_Kubernetes_InitScriptIsThePodsPath()
    {
        var options = Gradle(new GradleToolchainOptions { InitScript = "/cache/gradle/corporate.gradle" });
        Assert.True(Validate(options, ExecutorKind.Kubernetes).Succeeded);
        Assert.False(Validate(options).Succeeded);
    }

    private static ToolchainOptions Gradle(GradleToolchainOptions gradle) => new() { Gradle = gradle };

    private static ValidateOptionsResult Validate(ToolchainOptions options, ExecutorKind kind = ExecutorKind.Local) =>
        new ToolchainOptionsValidator(Options.Create(new ExecutorOptions { Kind = kind })).Validate(null, options);
}
