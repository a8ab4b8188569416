using AutoBuilder.Server.LegacyImport;

namespace AutoBuilder.Server.Tests.LegacyImport;

public sealed class LegacyVolumeTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "autobuilder-tests", $"legacy-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Fact]
    public void Scan_maps_the_legacy_layout_onto_projects()
    {
        Write("uploads/app/source.zip", 10);
        Write("projects/app/build/result.zip", 20);
        Write("projects/app/logs/build.log", 3);
        Write("projects/app/logs/migration.log", 4);
        Write("artifacts/app/1.0/app.jar", 5);
        Write("artifacts/app/2.0/app.jar", 6);
        Write("uploads/only-source/source.zip", 7);

        var volume = LegacyVolume.Scan(_root, includeCache: false);

        Assert.Equal(["app", "only-source"], volume.Projects.Select(p => p.ProjectId));
        var app = volume.Projects.First();
        Assert.Equal("uploads/app/source.zip", app.Source!.RelativePath);
        Assert.Equal(20, app.Result!.Size);
        Assert.Equal(["build.log", "migration.log"], app.Logs.Select(l => l.Name));
        Assert.Equal(["1.0/app.jar", "2.0/app.jar"], app.Artifacts.Select(a => $"{a.Version}/{a.Name}"));
        Assert.True(app.HasBuild);
        Assert.False(volume.Projects.Last().HasBuild);
        Assert.Equal(7, volume.Files.Count());
        Assert.Empty(volume.Unrecognised);
    }

    [Fact]
    public void Scan_lists_what_it_does_not_recognise_with_folder_totals()
    {
        Write("lost+found/a/b.bin", 100);
        Write("lost+found/c.bin", 50);
        Write("README.txt", 1);
        Write("uploads/app/other.zip", 2);
        Write("uploads/stray.zip", 2);
        Write("projects/app/source/Main.java", 9);
        Write("projects/app/logs/notes.txt", 3);
        Write("projects/app/build/extra.txt", 3);
        Write("artifacts/app/1.0/nested/x.jar", 4);
        Write("artifacts/app/loose.jar", 4);
        Write(".m2/settings.xml", 5);

        var volume = LegacyVolume.Scan(_root, includeCache: false);

        var unrecognised = volume.Unrecognised.ToDictionary(u => u.RelativePath);
        Assert.Equal(
            [".m2/settings.xml", "README.txt", "artifacts/app/1.0/nested/", "artifacts/app/loose.jar", "lost+found/", "projects/app/build/extra.txt",
             "projects/app/logs/notes.txt", "projects/app/source/", "uploads/app/other.zip", "uploads/stray.zip"],
            unrecognised.Keys.Order(StringComparer.Ordinal));
        Assert.Equal((2, 150L), (unrecognised["lost+found/"].Files, unrecognised["lost+found/"].Bytes));
        Assert.True(unrecognised["lost+found/"].IsDirectory);
        Assert.Empty(volume.Files);
    }

    [Fact]
    public void Scan_takes_the_caches_only_when_asked_and_counts_them_otherwise()
    {
        Write(".m2/repository/org/x/1.0/x-1.0.jar", 10);
        Write(".gradle/caches/modules-2/files/a.bin", 20);

        var without = LegacyVolume.Scan(_root, includeCache: false);
        Assert.Empty(without.CacheFiles);
        Assert.Equal((2, 30L), (without.SkippedCacheFiles, without.SkippedCacheBytes));

        var with = LegacyVolume.Scan(_root, includeCache: true);
        Assert.Equal(["gradle/caches/modules-2/files/a.bin", "maven/repository/org/x/1.0/x-1.0.jar"], with.CacheFiles.Select(c => c.BlobPath).Order(StringComparer.Ordinal));
        Assert.Equal(2, with.Files.Count());
    }

    [Fact]
    public void Scan_renames_names_AutoBuilder_does_not_accept_and_says_so()
    {
        Write("uploads/My Project/source.zip", 1);
        Write("projects/My Project/logs/빌드 로그.log", 1);
        Write("artifacts/My Project/v 1/my app.jar", 1);

        var volume = LegacyVolume.Scan(_root, includeCache: false);

        var project = Assert.Single(volume.Projects);
        Assert.Equal(LegacyNames.ProjectId("My Project"), project.ProjectId);
        Assert.Equal("My Project", project.LegacyName);
        Assert.Equal(LegacyNames.FileName("빌드 로그.log"), Assert.Single(project.Logs).Name);
        var artifact = Assert.Single(project.Artifacts);
        Assert.Equal((LegacyNames.Version("v 1"), LegacyNames.FileName("my app.jar")), (artifact.Version, artifact.Name));
        Assert.Equal(4, volume.Renamed.Count);
        Assert.Contains(volume.Renamed, r => r.RelativePath == "artifacts/My Project/v 1/my app.jar" && r.NewName == artifact.Name);
    }

    [Fact]
    public void Scan_lists_symbolic_links_and_never_follows_them()
    {
        Write("outside/secret.bin", 10);
        Directory.CreateDirectory(Path.Combine(_root, "uploads", "app"));
        File.CreateSymbolicLink(Path.Combine(_root, "uploads", "app", "source.zip"), Path.Combine(_root, "outside", "secret.bin"));
        Directory.CreateDirectory(Path.Combine(_root, ".m2"));
        Directory.CreateSymbolicLink(Path.Combine(_root, ".m2", "repository"), Path.Combine(_root, "outside"));

        var volume = LegacyVolume.Scan(_root, includeCache: true);

        Assert.Empty(volume.Files);
        Assert.Contains(volume.Unrecognised, u => u.RelativePath == "uploads/app/source.zip" && u.Reason.Contains("symbolic link", StringComparison.Ordinal));
        Assert.Contains(volume.Unrecognised, u => u.RelativePath == ".m2/repository" && u.Reason.Contains("symbolic link", StringComparison.Ordinal));
    }

    [Fact]
    public void Scan_of_a_missing_folder_says_so()
    {
        var e = Assert.Throws<DirectoryNotFoundException>(() => LegacyVolume.Scan(Path.Combine(_root, "nope"), includeCache: false));
        Assert.Contains("nope", e.Message, StringComparison.Ordinal);
    }

    private void Write(string relativePath, int size)
    {
        var path = Path.Combine(_root, relativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, new byte[size]);
    }
}
