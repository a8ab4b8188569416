using AutoBuilder.Core.Builds;
using AutoBuilder.Runner.Configuration;

namespace AutoBuilder.Runner.Tests.Configuration;

public sealed class BuildConfigLoaderTests
{
    [Fact]
    public void Parse_EveryKey_ReadsThem()
    {
        var config = BuildConfigLoader.Parse("""
            toolchain: gradle
            command: ./gradlew assemble
            outputs:
              - build/libs/*.jar
              - build/reports/**
            artifacts: [build/libs/*.jar, "!build/libs/*-plain.jar"]
            version: 2.1.0
            timeout: 30m
            env:
              FOO: bar
              RETRIES: 3
            """);

        Assert.Equal("gradle", config.Toolchain);
        Assert.Equal("./gradlew assemble", config.Command);
        Assert.Equal(["build/libs/*.jar", "build/reports/**"], config.Outputs);
        Assert.Equal(["build/libs/*.jar", "!build/libs/*-plain.jar"], config.Artifacts);
        Assert.Equal("2.1.0", config.Version);
        Assert.Equal(TimeSpan.FromMinutes(30), config.Timeout);
        Assert.Equal("bar", config.Env!["FOO"]);
        Assert.Equal("3", config.Env["RETRIES"]);
    }

    [Theory]
    [InlineData("")]
    [InlineData("# only a comment\n")]
    public void Parse_EmptyDocument_IsEmptyConfig(string yaml) => Assert.Equal(BuildConfig.Empty, BuildConfigLoader.Parse(yaml));

    [Fact]
    public void LoadFrom_NoFile_IsEmptyConfig()
    {
        using var temp = new TempDirectory();
        Assert.Same(BuildConfig.Empty, BuildConfigLoader.LoadFrom(temp.Path));
    }

    [Theory]
    [InlineData("comand: mvn package", "unknown key 'comand'")]
    [InlineData("toolchain: ant", "toolchain 'ant' is not one of maven, gradle, npm, dotnet, script")]
    [InlineData("toolchain: [maven]", "'toolchain' must be a non-empty string")]
    [InlineData("command: ''", "'command' must be a non-empty string")]
    [InlineData("outputs: {a: b}", "'outputs' must be a list of glob patterns")]
    [InlineData("outputs: [../secrets/*]", "'outputs' pattern '../secrets/*' must be relative")]
    [InlineData("artifacts: [/etc/*]", "'artifacts' pattern '/etc/*' must be relative")]
    [InlineData("version: ../1.0", "version '../1.0' is not a valid version")]
    [InlineData("version: 1.0/evil", "version '1.0/evil' is not a valid version")]
    [InlineData("timeout: soon", "timeout 'soon' must be a positive duration")]
    [InlineData("timeout: 0", "timeout '0' must be a positive duration")]
    [InlineData("timeout: -5m", "timeout '-5m' must be a positive duration")]
    [InlineData("env: [A, B]", "'env' must be a mapping")]
    [InlineData("env: {1BAD: x}", "'env' name '1BAD' is not a valid environment variable name")]
    [InlineData("env: {GOOD: [x]}", "'env.GOOD' must be a string")]
    [InlineData("env: {LD_PRELOAD: /proc/self/cwd/evil.so}", "'env' may not set LD_PRELOAD")]
    [InlineData("env: {LD_LIBRARY_PATH: .}", "'env' may not set LD_LIBRARY_PATH")]
    [InlineData("env: {LD_AUDIT: x.so}", "'env' may not set LD_AUDIT")]
    [InlineData("env: {BASH_ENV: ./x}", "'env' may not set BASH_ENV")]
    [InlineData("env: {ENV: ./x}", "'env' may not set ENV")]
    [InlineData("env: {GCONV_PATH: .}", "'env' may not set GCONV_PATH")]
    [InlineData("env: {GLIBC_TUNABLES: x}", "'env' may not set GLIBC_TUNABLES")]
    [InlineData("env: {TMPDIR: /var/big}", "'env' may not set TMPDIR")]
    [InlineData("env: {\"A\\n\": x}", "is not a valid environment variable name")]
    [InlineData("env: {GOOD: \"a\\0b\"}", "'env.GOOD' contains a NUL character")]
    [InlineData("cache: maybe", "'cache' must be true, false or a mapping with key and paths, not 'maybe'")]
    [InlineData("cache: [a]", "'cache' must be true, false or a mapping")]
    [InlineData("cache: {keys: [pom.xml]}", "unknown key 'cache.keys'")]
    [InlineData("cache: {key: [../pom.xml]}", "'cache.key' pattern '../pom.xml' must be relative")]
    [InlineData("cache: {paths: [/etc]}", "'cache.paths' entry '/etc' must be a folder relative to HOME")]
    [InlineData("cache: {paths: [.m2/../..]}", "'cache.paths' entry '.m2/../..' must be a folder relative to HOME")]
    [InlineData("cache: {paths: ['~/.m2']}", "'cache.paths' entry '~/.m2' must be a folder relative to HOME")]
    [InlineData("cache: {paths: {a: b}}", "'cache.paths' must be a list of folders relative to HOME")]
    [InlineData("- just\n- a list", "the document must be a mapping")]
    [InlineData("toolchain: maven\n  command: [unclosed", "invalid YAML at line")]
    public void Parse_BadKeyOrValue_FailsNamingIt(string yaml, string expected)
    {
        var ex = Assert.Throws<BuildFailureException>(() => BuildConfigLoader.Parse(yaml));

        Assert.StartsWith("autobuilder.yml: ", ex.Message, StringComparison.Ordinal);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_Steps_ReadsThemInOrder()
    {
        var config = BuildConfigLoader.Parse("""
            steps:
              - name: compile
                run: make all
              - name: Unit tests (fast)
                run: |
                  make test
                  make lint
                timeout: 5m
              - {name: "package \"dist\"", run: "tar czf out.tgz out"}
            """);

        Assert.Null(config.Command);
        Assert.Equal(
            [
                new StepDefinition("compile", "make all"),
                new StepDefinition("Unit tests (fast)", "make test\nmake lint\n", TimeSpan.FromMinutes(5)),
                new StepDefinition("package \"dist\"", "tar czf out.tgz out"),
            ],
            config.Steps);
    }

    [Fact]
    public void Parse_StepNameOfMaximumLength_Accepted()
    {
        var name = new string('n', BuildSteps.MaxNameLength);
        Assert.Equal(name, Assert.Single(BuildConfigLoader.Parse($"steps: [{{name: {name}, run: x}}]").Steps!).Name);
    }

    [Theory]
    [InlineData("steps: make", "'steps' must be a non-empty list of steps")]
    [InlineData("steps: []", "'steps' must be a non-empty list of steps")]
    [InlineData("steps: {name: a, run: b}", "'steps' must be a non-empty list of steps")]
    [InlineData("steps: [make]", "steps[1] (line 1) must be a mapping with name, run")]
    [InlineData("steps:\n  - {name: a, run: b}\n  - {run: c}", "steps[2] (line 3): a step needs both 'name' and 'run'")]
    [InlineData("steps: [{name: a}]", "steps[1] (line 1): a step needs both 'name' and 'run'")]
    [InlineData("steps: [{name: '', run: b}]", "steps[1] (line 1): 'name' must be 1–100 printable characters")]
    [InlineData("steps: [{name: '  ', run: b}]", "'name' must be 1–100 printable characters")]
    [InlineData("steps: [{name: \"a\\tb\", run: b}]", "'name' must be 1–100 printable characters, not 'a\\tb'")]
    [InlineData("steps: [{name: \"a\\u202Eb\", run: b}]", "'name' must be 1–100 printable characters")]
    [InlineData("steps: [{name: [a], run: b}]", "'name' must be 1–100 printable characters")]
    [InlineData("steps: [{name: a, run: ''}]", "steps[1] (line 1): 'run' must be a non-empty command")]
    [InlineData("steps: [{name: a, run: [x]}]", "'run' must be a non-empty command")]
    [InlineData("steps: [{name: a, run: b, timeout: soon}]", "steps[1] (line 1): timeout 'soon' must be a positive duration")]
    [InlineData("steps: [{name: a, run: b, cmd: c}]", "steps[1] (line 1): unknown key 'cmd'; allowed keys: name, run, timeout")]
    [InlineData("steps:\n  - {name: Test, run: b}\n  - {name: test, run: c}", "steps[2] (line 3): the step name 'test' is used twice")]
    [InlineData("command: make\nsteps: [{name: a, run: b}]", "set either 'steps' or 'command', not both")]
    [InlineData("steps: [{name: a, run: b}]\ncommand: make", "set either 'steps' or 'command', not both")]
    public void Parse_BadSteps_FailsWithOneLineNamingTheStep(string yaml, string expected)
    {
        var ex = Assert.Throws<BuildFailureException>(() => BuildConfigLoader.Parse(yaml));

        Assert.StartsWith("autobuilder.yml: ", ex.Message, StringComparison.Ordinal);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', ex.Message);
    }

    [Fact]
    public void Parse_StepNameTooLong_Fails()
    {
        var ex = Assert.Throws<BuildFailureException>(() => BuildConfigLoader.Parse($"steps: [{{name: {new string('n', BuildSteps.MaxNameLength + 1)}, run: x}}]"));
        Assert.Contains("'name' must be 1–100 printable characters", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_MoreStepsThanTheMaximum_Fails()
    {
        var yaml = "steps:\n" + string.Concat(Enumerable.Range(0, BuildSteps.MaxCount + 1).Select(i => $"  - {{name: s{i}, run: x}}\n"));
        var ex = Assert.Throws<BuildFailureException>(() => BuildConfigLoader.Parse(yaml));
        Assert.Contains("'steps' may list at most 100 steps, not 101", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("90s", 90)]
    [InlineData("90", 90)]
    [InlineData("30m", 1800)]
    [InlineData("1h", 3600)]
    public void TryParseTimeout_ValidText_ParsesSeconds(string text, int seconds)
    {
        Assert.True(BuildConfigLoader.TryParseTimeout(text, out var timeout));
        Assert.Equal(TimeSpan.FromSeconds(seconds), timeout);
    }

    [Theory]
    [InlineData("1d")]
    [InlineData("1.5h")]
    [InlineData("")]
    [InlineData("99999h")]
    public void TryParseTimeout_InvalidText_False(string text) => Assert.False(BuildConfigLoader.TryParseTimeout(text, out _));

    [Fact]
    public void Parse_Cache_OffOrKeyAndPaths()
    {
        Assert.False(BuildConfigLoader.Parse("cache: false\n").Cache!.Enabled);
        var cache = BuildConfigLoader.Parse("cache:\n  key: [pom.xml, 'deps/*.lock']\n  paths: [.m2/wrapper, .cache//tool/]\n").Cache!;
        Assert.True(cache.Enabled);
        Assert.Equal(["pom.xml", "deps/*.lock"], cache.Key);
        Assert.Equal([".m2/wrapper", ".cache/tool"], cache.Paths);
    }
}
