using System.Collections.Concurrent;
using System.Diagnostics;

namespace AutoBuilder.Runner.Processes;

/// <summary>
/// Starts build processes from one thread that lives as long as this process. Linux ties a child's parent-death
/// signal (PR_SET_PDEATHSIG, bwrap's --die-with-parent) to the *thread* that forked it, and .NET retires thread-pool
/// threads at will: a sandbox forked from a pool thread was killed mid-build when that thread retired. Forked from
/// here, the signal fires only when the whole process dies — so a sandboxed build never outlives the runner (or the
/// server, when the runner runs inside it) that started it.
/// </summary>
public static class SpawnThread
{
    private static readonly BlockingCollection<(Process Process, TaskCompletionSource Started)> Requests = [];
    private static readonly Lazy<Thread> Thread = new(() =>
    {
        var thread = new Thread(Run) { IsBackground = true, Name = "AutoBuilder build spawner" };
        thread.Start();
        return thread;
    });

    /// <summary>Starts <paramref name="process"/> on the spawner thread; completes once it has started (or failed to).</summary>
    public static Task StartAsync(Process process)
    {
        ArgumentNullException.ThrowIfNull(process);
        _ = Thread.Value;
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Requests.Add((process, started));
        return started.Task;
    }

    private static void Run()
    {
        foreach (var (process, started) in Requests.GetConsumingEnumerable())
        {
            try
            {
                process.Start();
                started.SetResult();
            }
            catch (Exception ex)
            {
                started.SetException(ex);
            }
        }
    }
}
