using AutoBuilder.Cli.Bench;

namespace AutoBuilder.Cli.Tests.Bench;

public sealed class StatsTests
{
    [Fact]
    public void Percentiles_AreNearestRank_OfTheSortedValues()
    {
        var values = Enumerable.Range(1, 100).Select(i => (double)(101 - i)).ToList(); // 100..1, unsorted on purpose

        Assert.Equal(50, Stats.Median(values));
        Assert.Equal(95, Stats.P95(values));
        Assert.Equal(99, Stats.P99(values));
        Assert.Equal(100, Stats.Percentile(values, 100));
        Assert.Equal(1, Stats.Percentile(values, 0));
    }

    [Fact]
    public void Percentiles_OfFewValues_AreValuesThatWereMeasured()
    {
        double[] values = [30, 10, 20];

        Assert.Equal(20, Stats.Median(values));
        Assert.Equal(30, Stats.P95(values));
        Assert.Equal(0, Stats.Median([]));
    }
}
