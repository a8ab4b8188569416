using AutoBuilder.Core.Storage;

namespace AutoBuilder.Server.LegacyImport;

/// <summary>One regular file of the legacy volume; <see cref="RelativePath"/> is '/'-separated from the volume's root.</summary>
public sealed record LegacyFile(string RelativePath, string FullPath, long Size, DateTimeOffset LastWriteTime);

/// <summary>A file of artifacts/{project}/{version}/: where it goes (mapped names) and where it came from.</summary>
public sealed record LegacyArtifact(LegacyFile File, string Version, string Name);

/// <summary>A log of projects/{project}/logs/, and its file name in the imported build's logs/ folder.</summary>
public sealed record LegacyLog(LegacyFile File, string Name);

/// <summary>A file of .m2/repository or .gradle/caches, and its path in the cache container.</summary>
public sealed record LegacyCacheFile(LegacyFile File, string BlobPath);

/// <summary>Something the tool does not migrate: listed, never silently dropped. A folder is listed once, with what it holds.</summary>
public sealed record UnrecognisedPath(string RelativePath, bool IsDirectory, int Files, long Bytes, string Reason);

/// <summary>A legacy name AutoBuilder does not accept, and the name it was given.</summary>
public sealed record RenamedPath(string RelativePath, string NewName);

/// <summary>Everything of one legacy project id, gathered from uploads/, projects/ and artifacts/.</summary>
public sealed class LegacyProject(string legacyName, string projectId)
{
    public string LegacyName { get; } = legacyName;

    public string ProjectId { get; } = projectId;

    /// <summary>uploads/{project}/source.zip.</summary>
    public LegacyFile? Source { get; set; }

    /// <summary>projects/{project}/build/result.zip.</summary>
    public LegacyFile? Result { get; set; }

    public List<LegacyLog> Logs { get; } = [];

    public List<LegacyArtifact> Artifacts { get; } = [];

    /// <summary>The legacy volume kept one build per project: its result, logs and artifacts become one imported build.</summary>
    public bool HasBuild => Result is not null || Logs.Count > 0 || Artifacts.Count > 0;

    public IEnumerable<LegacyFile> BuildFiles =>
        (Result is null ? [] : new[] { Result }).Concat(Logs.Select(l => l.File)).Concat(Artifacts.Select(a => a.File));
}

/// <summary>
/// The legacy volume (the seed's PVC tree), read once and mapped onto AutoBuilder's layout. Only reads: nothing on the
/// volume is opened for writing. Symbolic links are listed, never followed.
/// <code>
/// uploads/{project}/source.zip          → a source of the project
/// projects/{project}/build/result.zip   → the project's imported build: result.zip
/// projects/{project}/logs/*.log         → the imported build's logs/ (build.log is its log)
/// artifacts/{project}/{version}/*       → artifacts/{project}/{version}/*, recorded on the imported build
/// .m2/repository/**, .gradle/caches/**  → cache/maven/repository/**, cache/gradle/caches/** (with --include-cache)
/// </code>
/// </summary>
public sealed class LegacyVolume
{
    private readonly SortedDictionary<string, LegacyProject> _projects = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _projectIdOwners = new(StringComparer.Ordinal);

    private LegacyVolume(string root, bool includeCache)
    {
        Root = root;
        IncludeCache = includeCache;
    }

    public string Root { get; }

    public bool IncludeCache { get; }

    public IReadOnlyCollection<LegacyProject> Projects => _projects.Values;

    public List<LegacyCacheFile> CacheFiles { get; } = [];

    /// <summary>Cache files found but left out (no --include-cache).</summary>
    public int SkippedCacheFiles { get; private set; }

    public long SkippedCacheBytes { get; private set; }

    public List<UnrecognisedPath> Unrecognised { get; } = [];

    public List<RenamedPath> Renamed { get; } = [];

    /// <summary>Every file that is migrated.</summary>
    public IEnumerable<LegacyFile> Files =>
        Projects.SelectMany(p => (p.Source is null ? [] : new[] { p.Source }).Concat(p.BuildFiles)).Concat(CacheFiles.Select(c => c.File));

    public static LegacyVolume Scan(string root, bool includeCache)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        if (!Directory.Exists(full))
        {
            throw new DirectoryNotFoundException($"The legacy volume '{root}' is not a folder.");
        }

        var volume = new LegacyVolume(full, includeCache);
        foreach (var entry in Entries(new DirectoryInfo(full)))
        {
            switch (entry)
            {
                case DirectoryInfo { Name: "uploads" } uploads when !IsLink(entry):
                    volume.ScanUploads(uploads);
                    break;
                case DirectoryInfo { Name: "projects" } projects when !IsLink(entry):
                    volume.ScanProjects(projects);
                    break;
                case DirectoryInfo { Name: "artifacts" } artifacts when !IsLink(entry):
                    volume.ScanArtifacts(artifacts);
                    break;
                case DirectoryInfo { Name: ".m2" } m2 when !IsLink(entry):
                    volume.ScanCacheRoot(m2, "repository", "maven/repository");
                    break;
                case DirectoryInfo { Name: ".gradle" } gradle when !IsLink(entry):
                    volume.ScanCacheRoot(gradle, "caches", "gradle/caches");
                    break;
                default:
                    volume.AddUnrecognised(entry, "not part of the legacy layout");
                    break;
            }
        }

        return volume;
    }

    private void ScanUploads(DirectoryInfo uploads)
    {
        foreach (var entry in Entries(uploads))
        {
            if (entry is not DirectoryInfo projectFolder || IsLink(entry))
            {
                AddUnrecognised(entry, "expected uploads/{project}/source.zip");
                continue;
            }

            foreach (var file in Entries(projectFolder))
            {
                if (file is FileInfo { Name: "source.zip" } zip && !IsLink(file) && Project(projectFolder) is { } project)
                {
                    project.Source = ToLegacy(zip);
                }
                else
                {
                    AddUnrecognised(file, "expected uploads/{project}/source.zip");
                }
            }
        }
    }

    private void ScanProjects(DirectoryInfo projects)
    {
        foreach (var entry in Entries(projects))
        {
            if (entry is not DirectoryInfo projectFolder || IsLink(entry))
            {
                AddUnrecognised(entry, "expected projects/{project}/build/ or logs/");
                continue;
            }

            foreach (var child in Entries(projectFolder))
            {
                if (child is DirectoryInfo { Name: "build" } build && !IsLink(child))
                {
                    foreach (var file in Entries(build))
                    {
                        if (file is FileInfo { Name: "result.zip" } result && !IsLink(file) && Project(projectFolder) is { } project)
                        {
                            project.Result = ToLegacy(result);
                        }
                        else
                        {
                            AddUnrecognised(file, "expected projects/{project}/build/result.zip");
                        }
                    }
                }
                else if (child is DirectoryInfo { Name: "logs" } logs && !IsLink(child))
                {
                    ScanLogs(projectFolder, logs);
                }
                else
                {
                    AddUnrecognised(child, "expected projects/{project}/build/ or logs/");
                }
            }
        }
    }

    private void ScanLogs(DirectoryInfo projectFolder, DirectoryInfo logs)
    {
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var file in Entries(logs))
        {
            if (file is not FileInfo log || IsLink(file) || !log.Name.EndsWith(".log", StringComparison.Ordinal) || Project(projectFolder) is not { } project)
            {
                AddUnrecognised(file, "expected projects/{project}/logs/*.log");
                continue;
            }

            var legacy = ToLegacy(log);
            var name = Rename(legacy.RelativePath, log.Name, LegacyNames.FileName);
            if (!names.TryAdd(name, log.Name))
            {
                AddUnrecognised(file, $"its AutoBuilder name '{name}' is taken by '{names[name]}'");
                continue;
            }

            project.Logs.Add(new LegacyLog(legacy, name));
        }
    }

    private void ScanArtifacts(DirectoryInfo artifacts)
    {
        foreach (var entry in Entries(artifacts))
        {
            if (entry is not DirectoryInfo projectFolder || IsLink(entry))
            {
                AddUnrecognised(entry, "expected artifacts/{project}/{version}/{file}");
                continue;
            }

            foreach (var versionEntry in Entries(projectFolder))
            {
                if (versionEntry is not DirectoryInfo versionFolder || IsLink(versionEntry) || Project(projectFolder) is not { } project)
                {
                    AddUnrecognised(versionEntry, "expected artifacts/{project}/{version}/{file}");
                    continue;
                }

                var version = Rename(Relative(versionFolder) + "/", versionFolder.Name, LegacyNames.Version);
                var names = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (var file in Entries(versionFolder))
                {
                    if (file is not FileInfo artifact || IsLink(file))
                    {
                        AddUnrecognised(file, "expected artifacts/{project}/{version}/{file}");
                        continue;
                    }

                    var legacy = ToLegacy(artifact);
                    var name = Rename(legacy.RelativePath, artifact.Name, LegacyNames.FileName);
                    if (!names.TryAdd(name, artifact.Name)
                        || project.Artifacts.Any(a => a.Version == version && a.Name == name))
                    {
                        AddUnrecognised(file, $"its AutoBuilder name '{version}/{name}' is taken by another legacy file");
                        continue;
                    }

                    project.Artifacts.Add(new LegacyArtifact(legacy, version, name));
                }
            }
        }
    }

    private void ScanCacheRoot(DirectoryInfo folder, string cacheFolderName, string blobPrefix)
    {
        foreach (var entry in Entries(folder))
        {
            if (entry is DirectoryInfo cache && entry.Name == cacheFolderName && !IsLink(entry))
            {
                ScanCacheTree(cache, blobPrefix);
            }
            else
            {
                AddUnrecognised(entry, $"only {folder.Name}/{cacheFolderName} is a cache");
            }
        }
    }

    private void ScanCacheTree(DirectoryInfo folder, string blobPrefix)
    {
        foreach (var entry in Entries(folder))
        {
            if (IsLink(entry))
            {
                AddUnrecognised(entry, "a symbolic link (not followed)");
            }
            else if (entry is DirectoryInfo child)
            {
                ScanCacheTree(child, $"{blobPrefix}/{child.Name}");
            }
            else if (entry is FileInfo file)
            {
                var blobPath = $"{blobPrefix}/{file.Name}";
                if (!BlobLayout.IsSafeTreePath(blobPath))
                {
                    AddUnrecognised(entry, "a name no blob path can hold");
                }
                else if (IncludeCache)
                {
                    CacheFiles.Add(new LegacyCacheFile(ToLegacy(file), blobPath));
                }
                else
                {
                    SkippedCacheFiles++;
                    SkippedCacheBytes += file.Length;
                }
            }
        }
    }

    /// <summary>The project of a legacy folder (uploads/x, projects/x, artifacts/x), created on first sight; null when its id collides.</summary>
    private LegacyProject? Project(DirectoryInfo folder)
    {
        var legacyName = folder.Name;
        if (_projects.TryGetValue(legacyName, out var existing))
        {
            return existing;
        }

        var projectId = LegacyNames.ProjectId(legacyName);
        if (_projectIdOwners.TryGetValue(projectId, out var other))
        {
            AddUnrecognised(folder, $"its project id '{projectId}' is taken by legacy project '{other}'");
            return null;
        }

        _projectIdOwners[projectId] = legacyName;
        if (projectId != legacyName)
        {
            Renamed.Add(new RenamedPath($"{{uploads,projects,artifacts}}/{legacyName}/", projectId));
        }

        var project = new LegacyProject(legacyName, projectId);
        _projects[legacyName] = project;
        return project;
    }

    private string Rename(string relativePath, string legacyName, Func<string, string> map)
    {
        var name = map(legacyName);
        if (name != legacyName && !Renamed.Any(r => r.RelativePath == relativePath))
        {
            Renamed.Add(new RenamedPath(relativePath, name));
        }

        return name;
    }

    private void AddUnrecognised(FileSystemInfo entry, string reason)
    {
        if (IsLink(entry))
        {
            Unrecognised.Add(new UnrecognisedPath(Relative(entry), entry is DirectoryInfo, 0, 0, "a symbolic link (not followed)"));
        }
        else if (entry is DirectoryInfo folder)
        {
            var (files, bytes) = Measure(folder);
            Unrecognised.Add(new UnrecognisedPath(Relative(entry) + "/", true, files, bytes, reason));
        }
        else
        {
            Unrecognised.Add(new UnrecognisedPath(Relative(entry), false, 1, ((FileInfo)entry).Length, reason));
        }
    }

    private LegacyFile ToLegacy(FileInfo file) =>
        new(Relative(file), file.FullName, file.Length, new DateTimeOffset(file.LastWriteTimeUtc, TimeSpan.Zero));

    private string Relative(FileSystemInfo entry) => Path.GetRelativePath(Root, entry.FullName).Replace(Path.DirectorySeparatorChar, '/');

    private static (int Files, long Bytes) Measure(DirectoryInfo folder)
    {
        var files = 0;
        long bytes = 0;
        foreach (var entry in Entries(folder))
        {
            if (entry is FileInfo file)
            {
                files++;
                bytes += IsLink(entry) ? 0 : file.Length;
            }
            else if (entry is DirectoryInfo child && !IsLink(entry))
            {
                var (f, b) = Measure(child);
                files += f;
                bytes += b;
            }
        }

        return (files, bytes);
    }

    private static bool IsLink(FileSystemInfo entry) => entry.LinkTarget is not null;

    /// <summary>A folder's entries in ordinal name order, hidden and system ones included (a volume's dot-folders matter here).</summary>
    private static IEnumerable<FileSystemInfo> Entries(DirectoryInfo folder) =>
        folder.EnumerateFileSystemInfos("*", new EnumerationOptions { AttributesToSkip = 0, IgnoreInaccessible = false, RecurseSubdirectories = false })
            .OrderBy(e => e.Name, StringComparer.Ordinal);
}
