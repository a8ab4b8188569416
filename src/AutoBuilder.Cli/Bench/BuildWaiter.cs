using AutoBuilder.Cli.Client;
using AutoBuilder.Core.Api;
using AutoBuilder.Core.Builds;

namespace AutoBuilder.Cli.Bench;

/// <summary>
/// Waits for builds of one project to end, as cheaply for the server as a client can: one list call per poll covers
/// the newest 50 builds; only a build missing from it is fetched on its own. Timings come from the server's own
/// timestamps and durations, so the poll interval does not blur them.
/// </summary>
public static class BuildWaiter
{
    public static async Task<IReadOnlyList<BuildDto>> WaitAllAsync(
        AutoBuilderClient client, string projectId, IEnumerable<string> buildIds, TimeSpan poll, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var pending = new HashSet<string>(buildIds, StringComparer.Ordinal);
        var done = new List<BuildDto>();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            while (pending.Count > 0)
            {
                foreach (var build in await PollAsync(client, projectId, pending, deadline.Token))
                {
                    pending.Remove(build.Id);
                    done.Add(build);
                }

                if (pending.Count > 0)
                {
                    await Task.Delay(poll, deadline.Token);
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"{pending.Count} build(s) did not end within {timeout.TotalSeconds:0} s (e.g. {pending.First()}).");
        }

        return done;
    }

    /// <summary>The builds of <paramref name="pending"/> that have ended, as the server reports them now.</summary>
    public static async Task<IReadOnlyList<BuildDto>> PollAsync(AutoBuilderClient client, string projectId, IReadOnlyCollection<string> pending, CancellationToken cancellationToken)
    {
        var ended = new List<BuildDto>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var build in await client.GetBuildsAsync(projectId, cancellationToken))
        {
            if (pending.Contains(build.Id))
            {
                seen.Add(build.Id);
                if (build.Status.IsTerminal())
                {
                    ended.Add(build);
                }
            }
        }

        foreach (var id in pending.Where(id => !seen.Contains(id)).ToList())
        {
            var build = await client.GetBuildAsync(id, cancellationToken);
            if (build.Status.IsTerminal())
            {
                ended.Add(build);
            }
        }

        return ended;
    }
}
