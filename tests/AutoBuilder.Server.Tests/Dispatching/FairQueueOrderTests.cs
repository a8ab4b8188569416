using AutoBuilder.Server.Dispatching;
using Microsoft.Extensions.Time.Testing;

namespace AutoBuilder.Server.Tests.Dispatching;

/// <summary>
/// <see cref="FairQueueOrder"/> as a table. A build is written as its owner's letter and its place in that owner's
/// queue ("a2": alice's second); the queue is oldest first. "served" lists whom the dispatcher served, one per second
/// of a fake clock, oldest first.
/// </summary>
public sealed class FairQueueOrderTests
{
    [Theory]
    [InlineData("one user keeps queue order", "a1 a2 a3", "", "", "a1 a2 a3")]
    [InlineData("round-robin: a user's k-th build ranks behind everyone's first k", "a1 a2 a3 b1 b2", "", "", "a1 b1 a2 b2 a3")]
    [InlineData("round-robin over three users", "a1 a2 b1 b2 c1", "", "", "a1 b1 c1 a2 b2")]
    [InlineData("builds a user already runs count as served ranks", "a1 a2 b1 b2", "a=2", "", "b1 b2 a1 a2")]
    [InlineData("running counts across all dispatchers shift one rank each", "a1 a2 b1", "a=1", "", "b1 a1 a2")]
    [InlineData("among equals a never-served user goes first", "a1 b1", "", "a", "b1 a1")]
    [InlineData("among equals the user served longest ago goes first", "a1 b1 c1", "", "a c b", "a1 c1 b1")]
    [InlineData("serving someone again moves them behind", "a1 b1 c1", "", "a c b a", "c1 b1 a1")]
    [InlineData("equal and never served: the older build first", "b1 a1", "", "", "b1 a1")]
    [InlineData("rank before recency: a user served just now still goes before another's second build", "a1 b1 b2", "", "a", "b1 a1 b2")]
    [InlineData("an empty queue", "", "a=3", "a b", "")]
    public void Order_IsRoundRobinAcrossUsers(string rule, string queue, string running, string served, string expected)
    {
        var time = new FakeTimeProvider();
        var order = new FairQueueOrder(maxRunningPerUser: 0);
        foreach (var owner in Words(served))
        {
            order.Served(Owner(owner), time.GetUtcNow());
            time.Advance(TimeSpan.FromSeconds(1));
        }

        var ordered = order.Order(Words(queue), build => Owner(build[..1]), Running(running));

        Assert.True(string.Join(' ', Words(expected)) == string.Join(' ', ordered), $"{rule}: expected '{expected}', got '{string.Join(' ', ordered)}'");
    }

    /// <summary>The loop the dispatcher runs, one claim per tick: one user's long queue never keeps another waiting long.</summary>
    [Fact]
    public void Order_OneSlotPerTick_ServesALateUserNext()
    {
        var time = new FakeTimeProvider();
        var order = new FairQueueOrder(maxRunningPerUser: 0);
        var queue = new List<string> { "a1", "a2", "a3", "a4" };
        var claimed = new List<string>();
        for (var tick = 0; tick < 5; tick++)
        {
            if (tick == 1)
            {
                queue.Add("b1"); // bob queues behind alice's whole queue
            }

            var next = order.Order(queue, build => Owner(build[..1]), new Dictionary<string, int>())[0];
            order.Served(Owner(next[..1]), time.GetUtcNow());
            queue.Remove(next);
            claimed.Add(next);
            time.Advance(TimeSpan.FromSeconds(1)); // every build finishes before the next tick
        }

        Assert.Equal(["a1", "b1", "a2", "a3", "a4"], claimed);
    }

    [Theory]
    [InlineData(0, 0, true)]
    [InlineData(0, 10_000, true)]
    [InlineData(1, 0, true)]
    [InlineData(1, 1, false)]
    [InlineData(3, 2, true)]
    [InlineData(3, 3, false)]
    [InlineData(3, 4, false)]
    public void HasRoomFor_HonoursThePerUserLimit_ZeroMeaningNone(int limit, int running, bool room)
    {
        var order = new FairQueueOrder(limit);

        Assert.Equal(room, order.HasRoomFor("alice", new Dictionary<string, int> { ["alice"] = running }));
        Assert.True(order.HasRoomFor("bob", new Dictionary<string, int> { ["alice"] = running }), "a user without running builds");
    }

    private static string[] Words(string text) => text.Split(' ', StringSplitOptions.RemoveEmptyEntries);

    private static string Owner(string letter) => letter switch
    {
        "a" => "alice",
        "b" => "bob",
        "c" => "carol",
        _ => throw new ArgumentOutOfRangeException(nameof(letter), letter, null),
    };

    private static Dictionary<string, int> Running(string counts) =>
        Words(counts).Select(c => c.Split('=')).ToDictionary(c => Owner(c[0]), c => int.Parse(c[1], System.Globalization.CultureInfo.InvariantCulture));
}
