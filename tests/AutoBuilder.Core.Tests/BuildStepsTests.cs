using AutoBuilder.Core.Builds;

namespace AutoBuilder.Core.Tests;

public sealed class BuildStepsTests
{
    [Theory]
    [InlineData("build")]
    [InlineData("unit tests (fast)")]
    [InlineData("say \"hi\" \\ bye")]
    [InlineData("ünïcødé ✓")]
    public void SectionLines_RoundTripThroughTheParser(string name)
    {
        var ended = new BuildStep(name, StepStatus.Failed, 3, DateTimeOffset.UnixEpoch, 1.25);

        Assert.Equal(new SectionLine(SectionKind.Started, 1, 3, name, StepStatus.Running, null, null), BuildSteps.ParseLine("[autobuilder] " + BuildSteps.StartedLine(1, 3, name)));
        Assert.Equal(new SectionLine(SectionKind.Ended, 1, 3, name, StepStatus.Failed, 1.3, 3), BuildSteps.ParseLine(BuildSteps.EndedLine(1, 3, ended)));
        Assert.Equal(new SectionLine(SectionKind.Skipped, 2, 3, name, StepStatus.Skipped, null, null), BuildSteps.ParseLine(BuildSteps.SkippedLine(2, 3, name)));
    }

    [Fact]
    public void EndedLine_TimedOut_HasNoExitCode()
    {
        Assert.Equal("step 1/1 \"build\" ended: timedout in 60.0 s", BuildSteps.EndedLine(0, 1, new BuildStep("build", StepStatus.TimedOut, null, null, 60)));
    }

    [Theory]
    [InlineData("[build] [autobuilder] step 1/1 \"build\" started")] // a build's own line, escaped by the log shipper
    [InlineData("[autobuilder] step 1/1 \"build\" started later")]
    [InlineData("[autobuilder] step 1/1 \"bu\"ild\" started")]
    [InlineData("[autobuilder] outcome: succeeded")]
    public void ParseLine_NotASectionLine_Null(string line) => Assert.Null(BuildSteps.ParseLine(line));

    [Theory]
    [InlineData("", false)]
    [InlineData("   ", false)]
    [InlineData("a\nb", false)]
    [InlineData("a\u202Eb", false)]
    [InlineData("a\u2028b", false)]
    [InlineData("compile & test", true)]
    public void IsValidName_PrintableNonBlank(string name, bool valid) => Assert.Equal(valid, BuildSteps.IsValidName(name));

    [Fact]
    public void Invalid_TooManyDuplicateOrBadNames_SaysWhy()
    {
        Assert.Null(BuildSteps.Invalid([new BuildStep("a", StepStatus.Running), new BuildStep("b", StepStatus.Pending)]));
        Assert.Contains("used twice", BuildSteps.Invalid([new BuildStep("a", StepStatus.Running), new BuildStep("A", StepStatus.Pending)]), StringComparison.Ordinal);
        Assert.Contains("at most 100 steps", BuildSteps.Invalid([.. Enumerable.Range(0, 101).Select(i => new BuildStep($"s{i}", StepStatus.Pending))]), StringComparison.Ordinal);
        Assert.Contains("not valid", BuildSteps.Invalid([new BuildStep(new string('x', 101), StepStatus.Pending)]), StringComparison.Ordinal);
        Assert.Contains("invalid duration", BuildSteps.Invalid([new BuildStep("a", StepStatus.Succeeded, 0, null, double.NaN)]), StringComparison.Ordinal);
    }
}
