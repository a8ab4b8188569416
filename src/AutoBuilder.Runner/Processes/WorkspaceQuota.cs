using System.IO.Enumeration;
using AutoBuilder.Runner.Publishing;

namespace AutoBuilder.Runner.Processes;

/// <summary>
/// Holds a build's workspace (its source, HOME, TMPDIR and the sandbox's /tmp) under Builds:MaxWorkspaceBytes while the
/// command runs: the sizes of its files are summed every few seconds and the command is stopped (its group killed) when
/// they pass the limit, with one last look when it ends. Symlinks are not followed and count as nothing; sparse files count
/// at their full size. A scan is cheap for large trees (node_modules) because the pause after it is at least
/// <see cref="IdleFactor"/> times as long as it took.
/// </summary>
public sealed class WorkspaceQuota(string root, long maxBytes, TimeProvider? timeProvider = null)
{
    /// <summary>The shortest pause between two scans.</summary>
    public static readonly TimeSpan MinInterval = TimeSpan.FromSeconds(2);

    /// <summary>Scans take at most 1 / (1 + this) of the time, whatever the tree's size.</summary>
    public const int IdleFactor = 10;

    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;

    /// <summary>Why a build fails when its workspace is over the limit.</summary>
    public string Reason => $"the build's workspace (source, HOME, TMPDIR) grew past {OutputPublisher.Size(maxBytes)} (Builds:MaxWorkspaceBytes)";

    /// <summary>
    /// Runs <paramref name="command"/> with a token that is cancelled when the workspace passes the limit, and checks once
    /// more after it ends.
    /// </summary>
    /// <exception cref="BuildFailureException">The workspace passed the limit; the message is <see cref="Reason"/>.</exception>
    public async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> command, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        using var over = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var done = new CancellationTokenSource();
        var exceeded = false;
        var watcher = Task.Run(async () =>
        {
            while (!done.IsCancellationRequested)
            {
                var started = _time.GetTimestamp();
                if (Measure(root) > maxBytes)
                {
                    exceeded = true;
                    await over.CancelAsync().ConfigureAwait(false);
                    return;
                }

                var pause = _time.GetElapsedTime(started) * IdleFactor;
                await Task.Delay(pause > MinInterval ? pause : MinInterval, _time, done.Token).ConfigureAwait(false);
            }
        }, CancellationToken.None);

        T result;
        try
        {
            result = await command(over.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (exceeded && !cancellationToken.IsCancellationRequested)
        {
            throw new BuildFailureException(Reason);
        }
        finally
        {
            await done.CancelAsync().ConfigureAwait(false);
            try
            {
                await watcher.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Stopped while pausing.
            }
        }

        // Between two scans a command can write a lot and end: the last look.
        return Measure(root) > maxBytes ? throw new BuildFailureException(Reason) : result;
    }

    /// <summary>Bytes in the regular files under <paramref name="folder"/>; symlinks are not followed.</summary>
    public static long Measure(string folder)
    {
        long total = 0;
        var pending = new Stack<string>();
        pending.Push(folder);
        while (pending.TryPop(out var next))
        {
            total += SumFolder(next, pending);
        }

        return total;
    }

    /// <summary>The files' bytes of one folder; its subfolders (not symlinks to folders) go to <paramref name="pending"/>.</summary>
    private static long SumFolder(string folder, Stack<string> pending)
    {
        for (var attempt = 0; ; attempt++)
        {
            var subfolders = new List<string>();
            long bytes = 0;
            try
            {
                var entries = new FileSystemEnumerable<(string? Folder, long Bytes)>(folder, Classify, new EnumerationOptions
                {
                    RecurseSubdirectories = false,
                    IgnoreInaccessible = false,
                    AttributesToSkip = 0,
                });
                foreach (var (subfolder, size) in entries)
                {
                    if (subfolder is not null)
                    {
                        subfolders.Add(subfolder);
                    }

                    bytes += size;
                }
            }
            catch (UnauthorizedAccessException) when (attempt == 0 && OperatingSystem.IsLinux())
            {
                // The build (which runs as our user) may lock its own folders to hide what is in them: unlock and look again.
                TryUnlock(folder);
                continue;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Removed while we looked (DirectoryNotFoundException is an IOException), or still unreadable (not ours).
            }

            subfolders.ForEach(pending.Push);
            return bytes;
        }

        static (string?, long) Classify(ref FileSystemEntry entry) =>
            (entry.Attributes & FileAttributes.ReparsePoint) != 0 ? (null, 0)
            : entry.IsDirectory ? (entry.ToFullPath(), 0)
            : (null, entry.Length);
    }

    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private static void TryUnlock(string folder)
    {
        try
        {
            File.SetUnixFileMode(folder, File.GetUnixFileMode(folder) | UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Not ours: left as it is.
        }
    }
}
