using AutoBuilder.Core.Protocol;
using AutoBuilder.Server.Executors.Local;
using AutoBuilder.Server.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AutoBuilder.Server.Tests.Executors;

/// <summary>The start-up decision (bwrap is installed on test machines: scripts/test.sh installs it).</summary>
public sealed class SandboxCheckTests
{
    [Theory]
    [InlineData(SandboxMode.Auto, SandboxNetwork.None)]
    [InlineData(SandboxMode.Auto, SandboxNetwork.Host)]
    [InlineData(SandboxMode.Auto, SandboxNetwork.Egress)]
    [InlineData(SandboxMode.Required, SandboxNetwork.None)]
    public async Task StartAsync_BwrapWorks_EnablesTheSandboxWithTheNetworkSetting(SandboxMode mode, SandboxNetwork network)
    {
        // Egress needs root and slirp4netns: scripts/test.sh installs it and the tests run as root.
        var logger = new ListLogger();
        var check = new SandboxCheck(Options.Create(new SandboxOptions { Mode = mode, Network = network, AllowedNetworks = ["10.9.8.0/24"] }), Options.Create(new ExecutorOptions()), logger);

        await check.StartAsync(CancellationToken.None);

        Assert.True(check.Settings.Enabled);
        Assert.Equal(network, check.Settings.Network);
        Assert.Equal(["10.9.8.0/24"], check.Settings.AllowedNetworks);
        Assert.DoesNotContain(logger.Lines, line => line.StartsWith("Warning", StringComparison.Ordinal));
    }

    [Fact]
    public async Task StartAsync_Off_DisablesTheSandboxAndWarnsOnce()
    {
        var logger = new ListLogger();
        var check = new SandboxCheck(Options.Create(new SandboxOptions { Mode = SandboxMode.Off, Network = SandboxNetwork.Host }), Options.Create(new ExecutorOptions()), logger);

        await check.StartAsync(CancellationToken.None);

        Assert.False(check.Settings.Enabled);
        Assert.Single(logger.Lines, line => line.StartsWith("Warning", StringComparison.Ordinal) && line.Contains("unsandboxed", StringComparison.Ordinal));
    }

    /// <summary>Off runs every user's builds (the operator accepted the risk); unsandboxed, only Host gives them a network.</summary>
    [Theory]
    [InlineData(SandboxNetwork.Egress, SandboxNetwork.None)]
    [InlineData(SandboxNetwork.None, SandboxNetwork.None)]
    [InlineData(SandboxNetwork.Host, SandboxNetwork.Host)]
    public async Task StartAsync_Off_EveryonesBuildsRun_WithANetworkOnlyWhenHostIsAskedFor(SandboxNetwork asked, SandboxNetwork given)
    {
        var check = new SandboxCheck(Options.Create(new SandboxOptions { Mode = SandboxMode.Off, Network = asked }), Options.Create(new ExecutorOptions()), new ListLogger());

        await check.StartAsync(CancellationToken.None);

        foreach (var ownerIsAdmin in new[] { true, false })
        {
            var settings = check.For(ownerIsAdmin);
            Assert.False(settings.Enabled);
            Assert.False(settings.InPod);
            Assert.Null(settings.Refusal);
            Assert.Equal(given, settings.Network);
        }
    }

    [Theory]
    [InlineData(SandboxMode.Auto)]
    [InlineData(SandboxMode.Off)]
    public async Task StartAsync_KubernetesExecutor_ThePodIsTheSandbox(SandboxMode mode)
    {
        var logger = new ListLogger();
        var check = new SandboxCheck(Options.Create(new SandboxOptions { Mode = mode }), Options.Create(new ExecutorOptions { Kind = ExecutorKind.Kubernetes }), logger);

        await check.StartAsync(CancellationToken.None);

        Assert.False(check.Settings.Enabled);
        Assert.True(check.For(ownerIsAdmin: false).InPod);
        Assert.Null(check.For(ownerIsAdmin: false).Refusal);
        Assert.Contains(logger.Lines, line => line.Contains("pods, which are their sandbox", StringComparison.Ordinal));
    }

    [Fact]
    public async Task StartAsync_KubernetesExecutorWithRequired_FailsNamingTheFix()
    {
        var check = new SandboxCheck(Options.Create(new SandboxOptions { Mode = SandboxMode.Required }), Options.Create(new ExecutorOptions { Kind = ExecutorKind.Kubernetes }), new ListLogger());

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => check.StartAsync(CancellationToken.None));

        Assert.Contains("Set Sandbox:Mode to Off", error.Message, StringComparison.Ordinal);
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
