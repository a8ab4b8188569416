using System.Security.Cryptography;
using System.Text;
using AutoBuilder.Core.Builds;
using Microsoft.Extensions.FileSystemGlobbing;

namespace AutoBuilder.Runner.Caching;

/// <summary>
/// A dependency cache's key and its ordered fallbacks, in the terms GitHub Actions uses: the exact key names the
/// dependency manifests' content; a restore key is a prefix, and the newest entry under it is the nearest older cache.
/// </summary>
/// <param name="Key">{toolchain}-{sha256 of the manifests}: equal exactly when the dependencies are declared alike.</param>
/// <param name="RestoreKeys">Prefixes tried in order when there is no exact hit (newest entry first).</param>
/// <param name="Manifests">The files the key was computed from, relative to the source root, sorted.</param>
public sealed record CacheKey(string Key, IReadOnlyList<string> RestoreKeys, IReadOnlyList<string> Manifests)
{
    /// <summary>What each toolchain reads to resolve its dependencies (folders of build output are never looked in).</summary>
    public static IReadOnlyList<string> ManifestsOf(string toolchain) => toolchain switch
    {
        Toolchains.Maven => ["**/pom.xml", ".mvn/wrapper/maven-wrapper.properties", ".mvn/extensions.xml"],
        Toolchains.Gradle => ["**/*.gradle", "**/*.gradle.kts", "**/gradle.properties", "**/gradle/*.versions.toml", "**/gradle-wrapper.properties", "**/gradle.lockfile", "**/buildscript-gradle.lockfile"],
        Toolchains.Npm => ["package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "package.json", "**/package.json"],
        Toolchains.DotNet => ["**/*.csproj", "**/*.fsproj", "**/*.vbproj", "**/packages.lock.json", "**/Directory.Packages.props", "**/Directory.Build.props", "**/global.json", "**/NuGet.Config", "**/nuget.config"],
        _ => [],
    };

    /// <summary>Folders that hold build output or downloaded dependencies, never manifests of the project's own.</summary>
    private static readonly string[] IgnoredFolders = ["**/node_modules/**", "**/target/**", "**/build/**", "**/bin/**", "**/obj/**", "**/.git/**", "**/.gradle/**"];

    /// <summary>
    /// The key of <paramref name="toolchain"/>'s cache for the source at <paramref name="sourceRoot"/>; null when the
    /// toolchain has no manifests there (nothing says what its cache would hold). <paramref name="patterns"/> replaces
    /// the toolchain's own manifest patterns (autobuilder.yml's cache.key).
    /// </summary>
    public static CacheKey? Compute(string sourceRoot, string toolchain, IReadOnlyList<string>? patterns = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(sourceRoot);
        ArgumentException.ThrowIfNullOrEmpty(toolchain);
        var matcher = new Matcher(StringComparison.Ordinal);
        foreach (var pattern in patterns ?? ManifestsOf(toolchain))
        {
            matcher.AddInclude(pattern);
        }

        foreach (var ignored in IgnoredFolders)
        {
            matcher.AddExclude(ignored);
        }

        var root = Path.GetFullPath(sourceRoot);
        var manifests = matcher.GetResultsInFullPath(root)
            .Select(path => Path.GetRelativePath(root, path).Replace('\\', '/'))
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToList();
        if (manifests.Count == 0)
        {
            return null;
        }

        // Each file's path and content hash, in order: moving or renaming a module changes the key as editing one does.
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var manifest in manifests)
        {
            hash.AppendData(Encoding.UTF8.GetBytes(manifest + "\n"));
            using var file = File.OpenRead(Path.Combine(root, manifest));
            hash.AppendData(SHA256.HashData(file));
        }

        var prefix = toolchain + "-";
        return new CacheKey(prefix + Convert.ToHexStringLower(hash.GetHashAndReset()), [prefix], manifests);
    }
}
