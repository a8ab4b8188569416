using System.Diagnostics;
using AutoBuilder.Cli.Bench;

namespace AutoBuilder.Cli.Tests.Bench;

/// <summary>
/// throttlefs (bench/fuse/throttlefs.c), compiled and mounted for real: it passes files through, counts the operations
/// it serves, and its budget slows them. Needs gcc, libfuse3-dev, fuse3, /dev/fuse and root (scripts/test.sh).
/// No wall-clock threshold: the budget's effect is a ratio of two budgets run side by side.
/// </summary>
public sealed class ThrottleFsTests : IDisposable
{
    private readonly TempFolder _temp = new();

    [Fact]
    public async Task Mount_PassesFilesThrough_AndCountsTheOperationsItServes()
    {
        var binary = await ThrottleFs.CompileAsync(_temp.Combine("bin"), CancellationToken.None);
        var backing = _temp.Combine("backing");
        Directory.CreateDirectory(backing);
        File.WriteAllText(Path.Combine(backing, "before.txt"), "made before the mount");

        const int files = 40;
        long during;
        await using (var mount = await ThrottleFs.MountAsync(binary, backing, _temp.Combine("mnt"), opsPerSecond: 0, CancellationToken.None))
        {
            Assert.Equal("made before the mount", File.ReadAllText(Path.Combine(mount.MountPoint, "before.txt")));
            var before = mount.Operations();
            WriteAndReadBack(mount.MountPoint, files);
            during = mount.Operations() - before;
            var figures = await mount.UnmountAsync();

            // Each file: at least a create and a write (and its read back: an open and a read).
            Assert.InRange(during, 4 * files, 50 * files);
            Assert.True(figures["operations"] >= during, string.Join(", ", figures));
            Assert.True(figures["op.create"] >= files, string.Join(", ", figures));
            Assert.True(figures["op.write"] >= files, string.Join(", ", figures));
            Assert.Equal(0, figures["waited_ns"]);
        }

        // Passthrough: what was written through the mount is in the backing folder.
        Assert.Equal(files + 1, Directory.GetFiles(backing).Length);
        Assert.Equal("file 7", File.ReadAllText(Path.Combine(backing, "f7.txt")));
    }

    [Fact]
    public async Task Budget_SlowsTheSameOperations_ComparedSideBySide()
    {
        var binary = await ThrottleFs.CompileAsync(_temp.Combine("bin"), CancellationToken.None);
        const int files = 30;
        // ~8 operations a file: about 240 operations, ~4.8 s at 50 a second; unthrottled they take milliseconds.
        var slow = new List<double>();
        var fast = new List<double>();
        var waited = new List<long>();
        for (var round = 0; round < 2; round++)
        {
            foreach (var (budget, times) in new[] { (50.0, slow), (0.0, fast) })
            {
                var backing = _temp.Combine($"backing-{round}-{budget}");
                Directory.CreateDirectory(backing);
                await using var mount = await ThrottleFs.MountAsync(binary, backing, _temp.Combine($"mnt-{round}-{budget}"), budget, CancellationToken.None);
                var watch = Stopwatch.StartNew();
                WriteAndReadBack(mount.MountPoint, files);
                times.Add(watch.Elapsed.TotalMilliseconds);
                var figures = await mount.UnmountAsync();
                if (budget > 0)
                {
                    waited.Add(figures["waited_ns"]);
                }
            }
        }

        // A generous margin, for a loaded machine: the budget's own arithmetic gives ~4.8 s against a few ms.
        Assert.True(Stats.Median(slow) > 2 * Stats.Median(fast), $"50 ops/s: {string.Join(", ", slow)} ms; unlimited: {string.Join(", ", fast)} ms");
        Assert.All(waited, w => Assert.True(w > 0, "the throttled mount never waited for a token"));
    }

    private static void WriteAndReadBack(string folder, int files)
    {
        for (var i = 0; i < files; i++)
        {
            File.WriteAllText(Path.Combine(folder, $"f{i}.txt"), $"file {i}");
        }

        for (var i = 0; i < files; i++)
        {
            Assert.Equal($"file {i}", File.ReadAllText(Path.Combine(folder, $"f{i}.txt")));
        }
    }

    public void Dispose() => _temp.Dispose();
}
