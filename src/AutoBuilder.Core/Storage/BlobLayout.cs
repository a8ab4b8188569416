namespace AutoBuilder.Core.Storage;

/// <summary>Container names; the defaults are the seed's.</summary>
public sealed class ContainerNames
{
    public string Uploads { get; set; } = "uploads";
    public string Projects { get; set; } = "projects";
    public string Artifacts { get; set; } = "artifacts";
    public string Cache { get; set; } = "cache";

    public IReadOnlyList<string> All => [Uploads, Projects, Artifacts, Cache];
}

/// <summary>
/// Every blob path AutoBuilder uses, in one place (docs/ARCHITECTURE.md, "Blob layout"). Each component is validated
/// before it becomes part of a path, so no input can walk out of its prefix.
/// </summary>
public sealed class BlobLayout(ContainerNames containers)
{
    public ContainerNames Containers { get; } = containers;

    /// <summary>uploads/{projectId}/{sourceId}/source.zip — immutable.</summary>
    public BlobRef Source(string projectId, string sourceId) =>
        new(Containers.Uploads, $"{Project(projectId)}/{Generated(sourceId)}/source.zip");

    /// <summary>projects/{projectId}/builds/{number}/ — the folder of one build.</summary>
    public string BuildPrefix(string projectId, int number) => $"{Project(projectId)}/builds/{Number(number)}/";

    /// <summary>projects/{projectId}/builds/{number}/logs/build.log — appended while the build runs.</summary>
    public BlobRef BuildLog(string projectId, int number) => new(Containers.Projects, BuildPrefix(projectId, number) + "logs/build.log");

    /// <summary>projects/{projectId}/builds/{number}/logs/{file} — further logs of a build imported from a legacy volume (build.log is <see cref="BuildLog"/>).</summary>
    public BlobRef BuildLogFile(string projectId, int number, string fileName) =>
        new(Containers.Projects, BuildPrefix(projectId, number) + "logs/" + FileName(fileName));

    /// <summary>projects/{projectId}/builds/{number}/result.zip — the build's declared outputs.</summary>
    public BlobRef BuildResult(string projectId, int number) => new(Containers.Projects, BuildPrefix(projectId, number) + "result.zip");

    /// <summary>projects/{projectId}/builds/{number}/result.json — the manifest.</summary>
    public BlobRef BuildManifest(string projectId, int number) => new(Containers.Projects, BuildPrefix(projectId, number) + "result.json");

    /// <summary>projects/{projectId}/builds/{number}/artifacts/{file} — where the runner puts an artifact before promotion.</summary>
    public BlobRef BuildArtifact(string projectId, int number, string fileName) =>
        new(Containers.Projects, BuildPrefix(projectId, number) + "artifacts/" + FileName(fileName));

    /// <summary>artifacts/{projectId}/{version}/{file} — promoted, versioned.</summary>
    public BlobRef Artifact(string projectId, string version, string fileName) =>
        new(Containers.Artifacts, $"{Project(projectId)}/{Version(version)}/{FileName(fileName)}");

    /// <summary>cache/{projectId}/{toolchain}/{key}.tar.zst — a project's keyed dependency-cache archive; created once, never replaced.</summary>
    public BlobRef CacheArchive(string projectId, string toolchain, string key) =>
        new(Containers.Cache, $"{Project(projectId)}/{Project(toolchain)}/{FileName(key)}.tar.zst");

    /// <summary>cache/{projectId}/ — every cache archive of a project.</summary>
    public string CachePrefix(string projectId) => $"{Project(projectId)}/";

    /// <summary>
    /// cache/{path} — one file of a dependency cache kept as a tree (maven/repository/..., gradle/caches/...: the folders of the
    /// shared cache), as `autobuilder migrate --include-cache` copies a legacy volume's .m2/repository and .gradle/caches.
    /// </summary>
    public BlobRef CacheTreeFile(string path) =>
        IsSafeTreePath(path) ? new(Containers.Cache, path) : throw new ArgumentException($"Invalid cache path '{path}'.", nameof(path));

    /// <summary>The longest cache tree path taken from a legacy volume: Azure's limit on a blob name.</summary>
    public const int MaxTreePathLength = 1024;

    /// <summary>A path that keeps <see cref="BlobPath"/>'s rule and is at most <see cref="MaxTreePathLength"/> characters.</summary>
    public static bool IsSafeTreePath(string? path) => BlobPath.IsValid(path) && path!.Length <= MaxTreePathLength;

    private static string Project(string projectId) =>
        Ids.IsValidProjectId(projectId) ? projectId : throw new ArgumentException($"Invalid project id '{projectId}'.", nameof(projectId));

    private static string Generated(string id) =>
        Ids.IsValidGeneratedId(id) ? id : throw new ArgumentException($"Invalid id '{id}'.", nameof(id));

    private static string Version(string version) =>
        Ids.IsValidVersion(version) ? version : throw new ArgumentException($"Invalid version '{version}'.", nameof(version));

    private static string FileName(string name) =>
        Ids.IsValidFileName(name) ? name : throw new ArgumentException($"Invalid file name '{name}'.", nameof(name));

    private static string Number(int number) =>
        number > 0 ? number.ToString(System.Globalization.CultureInfo.InvariantCulture) : throw new ArgumentOutOfRangeException(nameof(number));
}
