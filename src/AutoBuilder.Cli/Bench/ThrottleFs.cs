using System.Diagnostics;
using System.Globalization;

namespace AutoBuilder.Cli.Bench;

/// <summary>
/// bench/fuse/throttlefs.c, a FUSE passthrough standing in for a network share: one global token bucket of operations
/// a second, 1 s attribute and entry caching, a count of the operations it served. Compiled with gcc at run time
/// (needs libfuse3-dev, fuse3 and /dev/fuse; the bench runs as root).
/// </summary>
public static class ThrottleFs
{
    /// <summary>The C source, copied beside the executable (content of AutoBuilder.Cli).</summary>
    public static string SourcePath => Path.Combine(AppContext.BaseDirectory, "Bench", "fuse", "throttlefs.c");

    /// <summary>Compiles throttlefs into <paramref name="directory"/>; the binary's path. Throws BenchException saying what is missing.</summary>
    public static async Task<string> CompileAsync(string directory, CancellationToken cancellationToken)
    {
        if (!File.Exists(SourcePath))
        {
            throw new BenchException($"throttlefs.c is not beside the executable ({SourcePath}).");
        }

        if (!File.Exists("/usr/include/fuse3/fuse.h"))
        {
            throw new BenchException("FUSE needs libfuse3's headers: apt-get install libfuse3-dev fuse3 (scripts/test.sh installs them).");
        }

        if (!File.Exists("/dev/fuse"))
        {
            throw new BenchException("/dev/fuse does not exist here: FUSE cannot mount.");
        }

        Directory.CreateDirectory(directory);
        var binary = Path.Combine(directory, "throttlefs");
        // pkg-config's flags for fuse3 are these on Debian; no pkg-config needed.
        await BenchRun.RunProcessAsync("gcc", ["-O2", "-Wall", "-D_FILE_OFFSET_BITS=64", "-I/usr/include/fuse3", SourcePath, "-o", binary, "-lfuse3", "-lpthread"], directory, cancellationToken);
        return binary;
    }

    /// <summary>Mounts <paramref name="source"/> at <paramref name="mountPoint"/> with a budget of <paramref name="opsPerSecond"/> (0 = unlimited).</summary>
    public static async Task<Mount> MountAsync(string binary, string source, string mountPoint, double opsPerSecond, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(mountPoint);
        var stats = Path.Combine(Path.GetDirectoryName(binary)!, $"stats-{Guid.NewGuid():N}.txt");
        var startInfo = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { Path.GetFullPath(source), opsPerSecond.ToString(CultureInfo.InvariantCulture), stats, Path.GetFullPath(mountPoint), "-f" })
        {
            startInfo.ArgumentList.Add(argument);
        }

        var process = Process.Start(startInfo) ?? throw new BenchException("throttlefs did not start.");
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        _ = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var mount = new Mount(process, Path.GetFullPath(mountPoint), stats, stderr);
        // Mounted when its control file answers (a hang guard, not a measurement).
        var deadline = Stopwatch.StartNew();
        while (!File.Exists(Path.Combine(mount.MountPoint, ".throttlefs-ops")))
        {
            if (process.HasExited || deadline.Elapsed > TimeSpan.FromSeconds(30))
            {
                await mount.DisposeAsync();
                throw new BenchException($"throttlefs did not mount {mountPoint}: {(await stderr).Trim()}");
            }

            await Task.Delay(20, cancellationToken);
        }

        return mount;
    }

    /// <summary>A mounted throttlefs: operations so far, and unmounting (which returns the final count).</summary>
    public sealed class Mount : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly string _statsFile;
        private readonly Task<string> _stderr;
        private bool _unmounted;

        internal Mount(Process process, string mountPoint, string statsFile, Task<string> stderr)
        {
            _process = process;
            MountPoint = mountPoint;
            _statsFile = statsFile;
            _stderr = stderr;
        }

        public string MountPoint { get; }

        /// <summary>Operations served since the mount (read from MOUNTPOINT/.throttlefs-ops, which is not itself counted).</summary>
        public long Operations() =>
            long.Parse(File.ReadAllText(Path.Combine(MountPoint, ".throttlefs-ops")).Trim(), NumberStyles.None, CultureInfo.InvariantCulture);

        /// <summary>Unmounts and returns the daemon's final figures: operations, waited_ns and op.NAME per kind.</summary>
        public async Task<IReadOnlyDictionary<string, long>> UnmountAsync(CancellationToken cancellationToken = default)
        {
            _unmounted = true;
            if (!_process.HasExited)
            {
                try
                {
                    await BenchRun.RunProcessAsync("umount", [MountPoint], null, cancellationToken);
                }
                catch (BenchException)
                {
                    // Busy or already gone: a lazy unmount still ends the daemon.
                    await BenchRun.RunProcessAsync("umount", ["-l", MountPoint], null, cancellationToken);
                }

                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(TimeSpan.FromSeconds(30));
                await _process.WaitForExitAsync(timeout.Token);
            }

            if (!File.Exists(_statsFile))
            {
                throw new BenchException($"throttlefs wrote no figures at unmount: {(await _stderr).Trim()}");
            }

            var figures = new Dictionary<string, long>(StringComparer.Ordinal);
            foreach (var line in await File.ReadAllLinesAsync(_statsFile, cancellationToken))
            {
                var equals = line.IndexOf('=', StringComparison.Ordinal);
                if (equals > 0 && long.TryParse(line[(equals + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var value))
                {
                    figures[line[..equals]] = value;
                }
            }

            File.Delete(_statsFile);
            return figures;
        }

        public async ValueTask DisposeAsync()
        {
            if (!_unmounted && !_process.HasExited)
            {
                try
                {
                    await UnmountAsync();
                }
                catch (Exception e) when (e is BenchException or OperationCanceledException or IOException)
                {
                    _process.Kill();
                }
            }

            _process.Dispose();
        }
    }
}
