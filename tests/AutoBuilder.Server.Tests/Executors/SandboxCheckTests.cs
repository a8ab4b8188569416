using AutoBuilder.Server.Executors.Local;
using AutoBuilder.Server.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AutoBuilder.Server.Tests.Executors;

/// <summary>The start-up decision (bwrap is installed on test machines: scripts/test.sh installs it).</summary>
public sealed class SandboxCheckTests
{
    [Theory]
    [InlineData(SandboxMode.Auto, false)]
    [InlineData(SandboxMode.Auto, true)]
    [InlineData(SandboxMode.Required, false)]
    public async Task StartAsync_BwrapWorks_EnablesTheSandboxWithTheNetworkSetting(SandboxMode mode, bool network)
    {
        var logger = new ListLogger();
        var check = new SandboxCheck(Options.Create(new SandboxOptions { Mode = mode, Network = network }), logger);

        await check.StartAsync(CancellationToken.None);

        Assert.True(check.Settings.Enabled);
        Assert.Equal(network, check.Settings.Network);
        Assert.DoesNotContain(logger.Lines, line => line.StartsWith("Warning", StringComparison.Ordinal));
    }

    [Fact]
    public async Task StartAsync_Off_DisablesTheSandboxAndWarnsOnce()
    {
        var logger = new ListLogger();
        var check = new SandboxCheck(Options.Create(new SandboxOptions { Mode = SandboxMode.Off, Network = true }), logger);

        await check.StartAsync(CancellationToken.None);

        Assert.False(check.Settings.Enabled);
        Assert.Single(logger.Lines, line => line.StartsWith("Warning", StringComparison.Ordinal) && line.Contains("unsandboxed", StringComparison.Ordinal));
    }

    private sealed class ListLogger : ILogger<SandboxCheck>
    {
        public List<string> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add($"{logLevel}: {formatter(state, exception)}");
    }
}
