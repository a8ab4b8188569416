namespace AutoBuilder.Cli.Bench;

/// <summary>The statistics every scenario reports, in one place: nearest-rank percentiles over a sample.</summary>
public static class Stats
{
    public static double Median(IReadOnlyCollection<double> values) => Percentile(values, 50);

    public static double P95(IReadOnlyCollection<double> values) => Percentile(values, 95);

    public static double P99(IReadOnlyCollection<double> values) => Percentile(values, 99);

    /// <summary>Nearest-rank percentile (no interpolation: every figure reported was actually measured); 0 for no values.</summary>
    public static double Percentile(IReadOnlyCollection<double> values, double percent)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count == 0)
        {
            return 0;
        }

        var sorted = values.Order().ToArray();
        var rank = (int)Math.Ceiling(percent / 100.0 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    /// <summary>Rounds for reports: figures carry no more digits than the measurement supports.</summary>
    public static double Round(double value, int digits = 1) => Math.Round(value, digits, MidpointRounding.AwayFromZero);
}
