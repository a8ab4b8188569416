using System.Diagnostics;
using System.Globalization;

namespace AutoBuilder.Cli.Bench;

/// <summary>What the figures were measured on: cores, memory, load, commit. Part of every JSON report.</summary>
public sealed record BenchMachine(int Cores, double MemoryGiB, string? LoadAverage, string? Commit, string Os)
{
    public static BenchMachine Describe() =>
        new(Environment.ProcessorCount, Stats.Round(ReadMemTotalKiB() / 1024.0 / 1024.0), ReadLoadAverage(), ReadCommit(), Environment.OSVersion.VersionString);

    /// <summary>The 1, 5 and 15 minute load averages (other work on the machine skews every figure).</summary>
    public static string? ReadLoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static long ReadMemTotalKiB()
    {
        try
        {
            var line = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
            return line is null ? 0 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return 0;
        }
    }

    /// <summary>The commit of the checkout the bench runs from, when it runs from one.</summary>
    private static string? ReadCommit()
    {
        try
        {
            var startInfo = new ProcessStartInfo("git", "rev-parse --short HEAD")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = Environment.CurrentDirectory,
            };
            using var git = Process.Start(startInfo);
            if (git is null)
            {
                return null;
            }

            var output = git.StandardOutput.ReadToEnd().Trim();
            git.WaitForExit();
            return git.ExitCode == 0 && output.Length > 0 ? output : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }
}
