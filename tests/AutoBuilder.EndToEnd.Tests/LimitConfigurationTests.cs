using AutoBuilder.EndToEnd.Tests.Infrastructure;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>Bad limits and settings stop the server at start, naming the key (one line, exit code 2).</summary>
public sealed class LimitConfigurationTests
{
    [Theory]
    [InlineData("Links:DefaultLifetime", "02:00:00", "Links:DefaultLifetime must not exceed Links:MaxLifetime")] // MaxLifetime set to 1 h below
    [InlineData("Uploads:MaxEntries", "0", "MaxEntries")]
    [InlineData("Uploads:MaxUncompressedBytes", "10", "MaxUncompressedBytes")]
    [InlineData("Uploads:MaxCompressionRatio", "0", "MaxCompressionRatio")]
    [InlineData("RateLimits:PermitsPerSecond", "0", "PermitsPerSecond")]
    [InlineData("RateLimits:Burst", "-1", "Burst")]
    [InlineData("Builds:MaxLogBytes", "0", "MaxLogBytes")]
    [InlineData("Builds:MaxWorkspaceBytes", "1024", "MaxWorkspaceBytes")]
    [InlineData("Sandbox:Network", "true", "'true' at 'Sandbox:Network'")] // the setting was a boolean before Egress
    [InlineData("Sandbox:AllowedNetworks:0", "10.1.2.0", "Sandbox:AllowedNetworks entries must be IPv4 networks in CIDR form")]
    public async Task Serve_BadLimit_FailsAtStartNamingTheKey(string key, string value, string message)
    {
        var root = TestPaths.NewTempDirectory("badlimit");
        var settings = new Dictionary<string, string> { ["Links:MaxLifetime"] = "01:00:00", [key] = value };
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => ServerProcess.StartAsync(Path.Combine(root, "data"), settings));

        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.Contains("exited with code 2", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", error.Message, StringComparison.Ordinal);
        Directory.Delete(root, recursive: true);
    }
}
