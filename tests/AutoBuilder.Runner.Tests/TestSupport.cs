using System.IO.Compression;
using System.Text;

// The runner runs builds on Linux (setsid, process groups, unix modes); so do its tests.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

namespace AutoBuilder.Runner.Tests;

/// <summary>A temp folder deleted (with everything in it) when the test ends.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "autobuilder-runner-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public string Write(string relative, string content)
    {
        var path = Combine(relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        return path;
    }

    public void Dispose()
    {
        if (Directory.Exists(Path))
        {
            Directory.Delete(Path, recursive: true);
        }
    }
}

/// <summary>Writes ZIPs with whatever entry names, modes and symlinks a test needs — including hostile ones.</summary>
public static class TestZip
{
    public const int RegularFile = 0x8000;
    public const int Symlink = 0xA000;

    public sealed record Entry(string Name, string Content, int UnixMode = RegularFile | 0x1A4);

    public static Entry File(string name, string content = "x", int mode = 0x1A4) => new(name, content, RegularFile | mode);

    public static Entry Link(string name, string target) => new(name, target, Symlink | 0x1FF);

    public static string Create(string path, params Entry[] entries)
    {
        using var stream = System.IO.File.Create(path);
        using var archive = new ZipArchive(stream, ZipArchiveMode.Create);
        foreach (var entry in entries)
        {
            var zipEntry = archive.CreateEntry(entry.Name);
            zipEntry.ExternalAttributes = entry.UnixMode << 16;
            if (!entry.Name.EndsWith('/'))
            {
                using var writer = zipEntry.Open();
                writer.Write(Encoding.UTF8.GetBytes(entry.Content));
            }
        }

        return path;
    }

    /// <summary>Zips a folder as a user would upload it (modes kept).</summary>
    public static string FromDirectory(string directory, string path)
    {
        ZipFile.CreateFromDirectory(directory, path);
        return path;
    }
}

public static class Samples
{
    /// <summary>The repository's samples/ folder, found upwards from the test binaries.</summary>
    public static string Directory(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = System.IO.Path.Combine(dir.FullName, "samples", name);
            if (System.IO.Path.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException($"samples/{name} not found above {AppContext.BaseDirectory}");
    }

    /// <summary>Copies a sample (without build leftovers) into a fresh folder.</summary>
    public static void CopyTo(string name, string target)
    {
        var source = Directory(name);
        foreach (var file in System.IO.Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var relative = System.IO.Path.GetRelativePath(source, file);
            if (relative.Split(System.IO.Path.DirectorySeparatorChar)[0] is "target" or "build" or ".gradle" or "out" or "dist")
            {
                continue;
            }

            var destination = System.IO.Path.Combine(target, relative);
            System.IO.Directory.CreateDirectory(System.IO.Path.GetDirectoryName(destination)!);
            System.IO.File.Copy(file, destination);
            System.IO.File.SetUnixFileMode(destination, System.IO.File.GetUnixFileMode(file));
        }
    }
}

/// <summary>
/// Waits for a state instead of sleeping for a guessed while. The limit is a hang guard, never an assertion on time:
/// a slow machine only makes the wait longer, and a state that never comes fails the caller's assertion.
/// </summary>
public static class TestWait
{
    public static readonly TimeSpan HangGuard = TimeSpan.FromMinutes(2);

    /// <summary>True once <paramref name="condition"/> holds; false when it still does not after <paramref name="limit"/> (default <see cref="HangGuard"/>).</summary>
    public static async Task<bool> UntilAsync(Func<bool> condition, TimeSpan? limit = null)
    {
        var deadline = DateTime.UtcNow + (limit ?? HangGuard);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            await Task.Delay(20);
        }

        return true;
    }

    /// <summary>
    /// Moves the fake clock on by <paramref name="step"/> until <paramref name="run"/> ends: the code under test may not
    /// have armed its timer yet when the test first advances, so one advance is not enough.
    /// </summary>
    public static async Task AdvanceUntilDoneAsync(Microsoft.Extensions.Time.Testing.FakeTimeProvider time, TimeSpan step, Task run)
    {
        var deadline = DateTime.UtcNow + HangGuard;
        while (!run.IsCompleted && DateTime.UtcNow < deadline)
        {
            time.Advance(step);
            await Task.WhenAny(run, Task.Delay(50));
        }

        Assert.True(run.IsCompleted, $"still running {HangGuard} after the fake clock passed its timeout");
    }
}
