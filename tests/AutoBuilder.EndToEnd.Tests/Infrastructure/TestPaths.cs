namespace AutoBuilder.EndToEnd.Tests.Infrastructure;

/// <summary>Where the repository, its samples and the built `autobuilder` are.</summary>
public static class TestPaths
{
    public static string RepoRoot { get; } = FindRepoRoot();

    public static string Samples => Path.Combine(RepoRoot, "samples");

    public static string MavenSettings => Path.Combine(Samples, "maven-settings-offline.xml");

    /// <summary>The CLI's own build output, in the configuration these tests were built in.</summary>
    public static string CliDll
    {
        get
        {
            var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
            var path = Path.Combine(RepoRoot, "src", "AutoBuilder.Cli", "bin", configuration, "net10.0", "autobuilder.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException("Build the solution first: the CLI is missing.", path);
        }
    }

    public static string NewTempDirectory(string purpose)
    {
        var path = Path.Combine(Path.GetTempPath(), "autobuilder-tests", $"{purpose}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(path);
        return path;
    }

    private static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "AutoBuilder.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Cannot find the repository root (AutoBuilder.slnx).");
    }
}
