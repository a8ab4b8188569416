using AutoBuilder.Runner.Publishing;

namespace AutoBuilder.Runner.Processes;

/// <summary>
/// Holds a build's workspace (its source, HOME, TMPDIR and the sandbox's /tmp) under Builds:MaxWorkspaceBytes while the
/// command runs: the sizes of its files are summed every few seconds and the command is stopped (its group killed) when
/// they pass the limit, with one last look when it ends. Symlinks are not followed and count as nothing; sparse files count
/// at their full size. The tree is walked from descriptors, never by path (docs/SECURITY.md, "The trust boundary"). A
/// scan is cheap for large trees (node_modules) because the pause after it is at least <see cref="IdleFactor"/> times
/// as long as it took.
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

    /// <summary>
    /// Bytes in the regular files under <paramref name="folder"/> (the workspace, a folder of the runner's own). The walk
    /// goes from descriptors and follows no link (<see cref="DirectoryHandle.MeasureFiles"/>), so the build's tree is never
    /// resolved by path; root reads folders the build locked without unlocking them. A tree too deep to walk counts as
    /// over any limit.
    /// </summary>
    public static long Measure(string folder)
    {
        if (!OperatingSystem.IsLinux())
        {
            return 0;
        }

        try
        {
            using var root = DirectoryHandle.Open(folder);
            return root.MeasureFiles() ?? long.MaxValue;
        }
        catch (IOException)
        {
            return 0; // the workspace itself is gone: nothing in it to count
        }
    }
}
