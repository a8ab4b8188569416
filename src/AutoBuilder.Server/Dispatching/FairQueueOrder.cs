namespace AutoBuilder.Server.Dispatching;

/// <summary>
/// The order in which a dispatcher tries to claim queued builds, fair across users, and the per-user limit. Round-robin:
/// a user's k-th queued build ranks behind every other user's first k (counting the builds the user already runs);
/// among equals the user served longest ago goes first, then the older build. So one user's long queue never starves
/// another user's build. Pure: the dispatcher brings the queue and the running counts, and says whom it served when.
/// </summary>
public sealed class FairQueueOrder(int maxRunningPerUser)
{
    private readonly Dictionary<string, DateTimeOffset> _lastServed = new(StringComparer.Ordinal);

    /// <summary>
    /// The queue (oldest first) in the order to try it. <paramref name="runningPerOwner"/> counts each user's running
    /// builds across all dispatchers.
    /// </summary>
    public IReadOnlyList<T> Order<T>(IReadOnlyList<T> queue, Func<T, string> ownerOf, IReadOnlyDictionary<string, int> runningPerOwner)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ArgumentNullException.ThrowIfNull(ownerOf);
        ArgumentNullException.ThrowIfNull(runningPerOwner);
        return queue
            .Select((build, index) => (build, index, owner: ownerOf(build)))
            .GroupBy(x => x.owner, StringComparer.Ordinal)
            .SelectMany(g => g.Select((x, rank) => (x.build, x.index, x.owner, rank: runningPerOwner.GetValueOrDefault(g.Key) + rank)))
            .OrderBy(x => x.rank)
            .ThenBy(x => _lastServed.GetValueOrDefault(x.owner, DateTimeOffset.MinValue))
            .ThenBy(x => x.index)
            .Select(x => x.build)
            .ToList();
    }

    /// <summary>Whether the user may start one more build (0 = no per-user limit).</summary>
    public bool HasRoomFor(string owner, IReadOnlyDictionary<string, int> runningPerOwner)
    {
        ArgumentNullException.ThrowIfNull(runningPerOwner);
        return maxRunningPerUser <= 0 || runningPerOwner.GetValueOrDefault(owner) < maxRunningPerUser;
    }

    /// <summary>The dispatcher claimed a build of this user at <paramref name="at"/>.</summary>
    public void Served(string owner, DateTimeOffset at) => _lastServed[owner] = at;
}
