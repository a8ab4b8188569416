using System.Text.RegularExpressions;
using AutoBuilder.EndToEnd.Tests.Infrastructure;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>
/// docs/SECURITY.md names, for every defence, the tests behind it: each named test class and method exists, and every
/// row of the defence table names at least one. (That each fails without its defence is shown when it is written.)
/// </summary>
public sealed partial class SecurityDocTests
{
    private static readonly string Doc = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "docs", "SECURITY.md"));

    /// <summary>Every test source file, read once.</summary>
    private static readonly string[] TestSources = Directory.EnumerateFiles(Path.Combine(TestPaths.RepoRoot, "tests"), "*.cs", SearchOption.AllDirectories)
        .Where(path => !path.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
            && !path.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
        .Select(File.ReadAllText)
        .ToArray();

    [Fact]
    public void EveryTestNamedInTheThreatModel_Exists()
    {
        var names = References().ToList();
        Assert.True(names.Count > 40, $"expected the threat model to name its tests; found {names.Count}");

        var missing = names.Where(name => !Exists(name)).Distinct().ToList();
        Assert.True(missing.Count == 0, "named in docs/SECURITY.md but not found under tests/: " + string.Join(", ", missing));
    }

    [Fact]
    public void EveryDefenceRow_NamesItsTests()
    {
        var rows = Doc.Split('\n')
            .SkipWhile(line => !line.StartsWith("| threat | defence | stops |", StringComparison.Ordinal))
            .Skip(2)
            .TakeWhile(line => !line.StartsWith("## ", StringComparison.Ordinal))
            .Where(line => line.StartsWith("| ", StringComparison.Ordinal))
            .ToList();

        Assert.NotEmpty(rows);
        var bare = rows.Where(row => !Bracketed().IsMatch(row)).Select(row => row[..Math.Min(row.Length, 80)]).ToList();
        Assert.True(bare.Count == 0, "defence rows naming no test: " + string.Join(" | ", bare));
    }

    /// <summary>`Class`, `Class.Method` or `Class.MethodPrefix...` inside a bracketed list.</summary>
    private static IEnumerable<string> References() =>
        Bracketed().Matches(Doc).SelectMany(list => TestName().Matches(list.Value).Select(match => match.Groups[1].Value));

    private static bool Exists(string reference)
    {
        var parts = reference.Split('.', 2);
        var type = parts[0];
        var classDeclared = new Regex($@"\b(class|record)\s+{Regex.Escape(type)}\b");
        var files = TestSources.Where(source => classDeclared.IsMatch(source)).ToList();
        if (parts.Length == 1)
        {
            return files.Count > 0;
        }

        var method = parts[1];
        var prefix = method.EndsWith("...", StringComparison.Ordinal);
        var pattern = new Regex(prefix
            ? $@"\b(void|Task)\s+{Regex.Escape(method[..^3])}\w*\s*\("
            : $@"\b(void|Task)\s+{Regex.Escape(method)}\s*\(");
        return files.Exists(source => pattern.IsMatch(source));
    }

    [GeneratedRegex(@"\[`[^\]]*\]")]
    private static partial Regex Bracketed();

    [GeneratedRegex(@"`([A-Z][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+(?:\.\.\.)?)?)`")]
    private static partial Regex TestName();
}
