using System.Text.Json;
using System.Text.RegularExpressions;
using AutoBuilder.EndToEnd.Tests.Infrastructure;

namespace AutoBuilder.EndToEnd.Tests.Deploy;

/// <summary>
/// deploy/docker and deploy/azure, as far as they can be checked without a Docker engine or an Azure account: what
/// the Dockerfiles copy and publish exists, the images run as the user the Jobs expect, the script parses and its
/// lifecycle policy is valid.
/// </summary>
public sealed partial class DeployFilesTests
{
    [Theory]
    [InlineData("server.Dockerfile")]
    [InlineData("runner.Dockerfile")]
    public void Dockerfile_PublishesTheCliThatExists_AndRunsAsTheNonRootBuildUser(string file)
    {
        var text = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "deploy", "docker", file));
        var stages = Regex.Matches(text, "^FROM ", RegexOptions.Multiline).Count;
        Assert.True(stages >= 2, "multi-stage");

        var project = Publish().Match(text).Groups["project"].Value;
        var csproj = Path.Combine(TestPaths.RepoRoot, project);
        Assert.True(File.Exists(csproj), $"{file} publishes {project}, which does not exist");
        var output = Publish().Match(text).Groups["output"].Value;

        // The final stage copies the published app from where the build stage put it, and starts the CLI's assembly.
        var assembly = Regex.Match(File.ReadAllText(csproj), "<AssemblyName>(.+)</AssemblyName>").Groups[1].Value;
        Assert.Equal("autobuilder", assembly);
        Assert.Matches($"COPY --from=build {Regex.Escape(output)} /app", text);
        Assert.Matches($"ENTRYPOINT \\[[^\\]]*\"/app/{assembly}(\\.dll)?\"", text);

        // Non-root, and the same user as Kubernetes:RunAsUser / the Deployments (10001).
        var user = Regex.Matches(text, "^USER (.+)$", RegexOptions.Multiline).Last().Groups[1].Value.Trim();
        Assert.Equal("10001:10001", user);

        // What the build stage copies from the context is in the repository.
        foreach (Match copy in Regex.Matches(text, "^COPY (?!--from)(\\S+) ", RegexOptions.Multiline))
        {
            Assert.True(File.Exists(Path.Combine(TestPaths.RepoRoot, copy.Groups[1].Value)) || Directory.Exists(Path.Combine(TestPaths.RepoRoot, copy.Groups[1].Value)), copy.Value);
        }

        Assert.True(File.Exists(Path.Combine(TestPaths.RepoRoot, ".dockerignore")));
    }

    [Fact]
    public void RunnerDockerfile_CarriesJdk17MavenAndGradle()
    {
        var text = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "deploy", "docker", "runner.Dockerfile"));

        Assert.Matches("^FROM eclipse-temurin:17-jdk", text.Split('\n').Last(l => l.StartsWith("FROM ", StringComparison.Ordinal)));
        Assert.Contains("/usr/local/bin/mvn", text, StringComparison.Ordinal);
        Assert.Contains("/usr/local/bin/gradle", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ProvisionScript_ParsesAndCreatesWhatTheDeploymentNeeds()
    {
        var script = Path.Combine(TestPaths.RepoRoot, "deploy", "azure", "provision.sh");
        var syntax = await ToolProcess.RunAsync("bash", ["-n", script]);
        Assert.True(syntax.ExitCode == 0, syntax.Stderr);

        var text = await File.ReadAllTextAsync(script);
        Assert.Contains("--kind StorageV2 --sku Standard_LRS", text, StringComparison.Ordinal);
        Assert.Contains("LOCATION=\"${LOCATION:-koreacentral}\"", text, StringComparison.Ordinal);
        Assert.Contains("uploads projects artifacts cache", text, StringComparison.Ordinal);
        Assert.Contains("--role \"Storage Blob Data Contributor\"", text, StringComparison.Ordinal);
        Assert.Contains("management-policy create", text, StringComparison.Ordinal);

        // The lifecycle policy is valid JSON and expires uploads and build outputs, never artifacts.
        using var policy = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(TestPaths.RepoRoot, "deploy", "azure", "lifecycle-policy.json")));
        var prefixes = policy.RootElement.GetProperty("rules").EnumerateArray()
            .SelectMany(r => r.GetProperty("definition").GetProperty("filters").GetProperty("prefixMatch").EnumerateArray().Select(p => p.GetString()))
            .ToList();
        Assert.Contains("uploads/", prefixes);
        Assert.Contains("projects/", prefixes);
        Assert.DoesNotContain("artifacts/", prefixes);
    }

    [GeneratedRegex("dotnet publish (?<project>\\S+\\.csproj)[^\\n]* -o (?<output>\\S+)")]
    private static partial Regex Publish();
}
