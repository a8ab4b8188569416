using System.Security.Cryptography;

namespace AutoBuilder.EndToEnd.Tests.LegacyImport;

/// <summary>One file the generator wrote, with what the test expects of its migrated copy.</summary>
public sealed record GeneratedFile(string RelativePath, long Size, DateTimeOffset LastWriteTime, string Sha256);

/// <summary>A legacy project as generated: which of the legacy layout's files it has.</summary>
public sealed class GeneratedProject(string legacyName)
{
    public string LegacyName { get; } = legacyName;

    public GeneratedFile? Source { get; set; }

    public GeneratedFile? Result { get; set; }

    public List<(string Name, GeneratedFile File)> Logs { get; } = [];

    public List<(string Version, string Name, GeneratedFile File)> Artifacts { get; } = [];

    public bool HasBuild => Result is not null || Logs.Count > 0 || Artifacts.Count > 0;
}

/// <summary>
/// Writes a legacy volume like the seed's PVC: uploads/, projects/ (result.zip, logs), artifacts/, .m2 and .gradle caches,
/// Unicode and space-containing names, an unrecognised folder and, optionally, one large result. Content is
/// pseudo-random from a fixed seed, written through a 1 MiB buffer (never a whole file in memory); times are fixed in the past.
/// </summary>
public sealed class LegacyVolumeGenerator
{
    public static readonly DateTimeOffset Epoch = new(2025, 3, 1, 8, 0, 0, TimeSpan.Zero);

    private readonly Random _random = new(20260108);
    private readonly byte[] _buffer = new byte[1024 * 1024];
    private int _clock;

    private LegacyVolumeGenerator(string root) => Root = root;

    public string Root { get; }

    public List<GeneratedProject> Projects { get; } = [];

    public List<GeneratedFile> CacheFiles { get; } = [];

    /// <summary>The large result.zip, when one was asked for.</summary>
    public GeneratedFile? BigFile { get; private set; }

    /// <summary>Every file a migration with --include-cache copies.</summary>
    public IEnumerable<GeneratedFile> MigratedFiles => Projects.SelectMany(p =>
            (p.Source is null ? [] : new[] { p.Source })
            .Concat(p.Result is null ? [] : new[] { p.Result })
            .Concat(p.Logs.Select(l => l.File))
            .Concat(p.Artifacts.Select(a => a.File)))
        .Concat(CacheFiles);

    public static LegacyVolumeGenerator Generate(string root, int projects, long bigFileBytes, int cacheFiles)
    {
        var generator = new LegacyVolumeGenerator(root);
        for (var i = 0; i < projects; i++)
        {
            generator.AddProject(i);
        }

        if (bigFileBytes > 0)
        {
            var big = new GeneratedProject("big-project");
            big.Result = generator.BigFile = generator.Write("projects/big-project/build/result.zip", bigFileBytes);
            big.Logs.Add(("build.log", generator.Write("projects/big-project/logs/build.log", 2048)));
            generator.Projects.Add(big);
        }

        for (var j = 0; j < cacheFiles; j++)
        {
            generator.CacheFiles.Add(j % 2 == 0
                ? generator.Write($".m2/repository/org/example/lib{j}/1.0/lib{j}-1.0.jar", generator._random.Next(100, 2000))
                : generator.Write($".gradle/caches/modules-2/files-2.1/com.example/mod{j}/{j}.bin", generator._random.Next(100, 2000)));
        }

        // Not part of the legacy layout: listed by the tool, never copied.
        generator.Write("lost+found/#1234", 100);
        generator.Write("lost+found/deep/#5678", 200);
        if (projects > 0)
        {
            generator.Write($"projects/{generator.Projects[0].LegacyName}/source/src/Main.java", 300);
        }

        return generator;
    }

    private void AddProject(int i)
    {
        // Mostly valid ids; some Unicode and space-containing names, as real teams have.
        var name = (i % 50) switch
        {
            7 => $"빌드 프로젝트 {i}",
            13 => $"My Project {i}",
            21 => $"Café-{i}",
            _ => $"proj-{i:D3}",
        };
        var project = new GeneratedProject(name);
        if (i % 10 != 9)
        {
            project.Source = Write($"uploads/{name}/source.zip", _random.Next(200, 4000));
        }

        var hasResult = i % 5 != 4;
        if (hasResult)
        {
            project.Result = Write($"projects/{name}/build/result.zip", _random.Next(200, 4000));
        }

        project.Logs.Add(("build.log", Write($"projects/{name}/logs/build.log", _random.Next(50, 3000))));
        if (i % 4 == 0)
        {
            project.Logs.Add(("migration.log", Write($"projects/{name}/logs/migration.log", _random.Next(50, 500))));
        }

        if (i % 50 == 7)
        {
            project.Logs.Add(("빌드 로그.log", Write($"projects/{name}/logs/빌드 로그.log", 99)));
        }

        if (i % 3 == 0)
        {
            project.Artifacts.Add(("1.0.0", "app.jar", Write($"artifacts/{name}/1.0.0/app.jar", _random.Next(100, 3000))));
            if (i % 6 == 0)
            {
                project.Artifacts.Add(("1.1.0", "app.jar", Write($"artifacts/{name}/1.1.0/app.jar", _random.Next(100, 3000))));
            }

            if (i % 30 == 0)
            {
                project.Artifacts.Add(("1.0.0", "my app.jar", Write($"artifacts/{name}/1.0.0/my app.jar", _random.Next(100, 3000))));
            }
        }

        Projects.Add(project);
    }

    private GeneratedFile Write(string relativePath, long size)
    {
        var path = Path.Combine(Root, relativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 0))
        {
            for (var left = size; left > 0;)
            {
                var chunk = (int)Math.Min(left, _buffer.Length);
                _random.NextBytes(_buffer.AsSpan(0, chunk));
                hash.AppendData(_buffer, 0, chunk);
                file.Write(_buffer, 0, chunk);
                left -= chunk;
            }
        }

        var time = Epoch.AddMinutes(_clock++);
        File.SetLastWriteTimeUtc(path, time.UtcDateTime);
        return new GeneratedFile(relativePath, size, time, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }

    /// <summary>Every path of the volume with its size and time: equal before and after means nothing was changed.</summary>
    public static IReadOnlyList<string> Snapshot(string root) =>
        new DirectoryInfo(root).EnumerateFileSystemInfos("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Select(e => $"{Path.GetRelativePath(root, e.FullName)}|{(e is FileInfo f ? f.Length : -1)}|{e.LastWriteTimeUtc.Ticks}")
            .Order(StringComparer.Ordinal)
            .ToList();
}
