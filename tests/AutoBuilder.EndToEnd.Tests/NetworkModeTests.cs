using System.Net;
using System.Net.Sockets;
using AutoBuilder.Core.Builds;
using AutoBuilder.EndToEnd.Tests.Infrastructure;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>
/// Sandbox:Network end to end: on the default (Egress) a build cannot connect to a port the test listens on at the
/// host's 127.0.0.1, nor to the AutoBuilder API; with Host it can — the same build, the difference the mode makes.
/// Traffic goes only to this machine's loopback.
/// </summary>
public sealed class NetworkModeTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task Egress_TheDefault_ReachesNeitherTheHostsLoopbackNorTheApi()
    {
        using var listener = Listen(out var port);

        var log = await BuildAsync(fixture.Server, port);

        Assert.Contains("network: egress", log, StringComparison.Ordinal);
        Assert.Contains("LISTENER-REFUSED", log, StringComparison.Ordinal);
        Assert.Contains("API-REFUSED", log, StringComparison.Ordinal);
        Assert.Contains("Connection refused", log, StringComparison.Ordinal);
        Assert.Contains("Couldn't connect to server", log, StringComparison.Ordinal);
        Assert.DoesNotContain("-REACHED", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Host_TheSameBuild_ReachesBoth()
    {
        var root = TestPaths.NewTempDirectory("host-network");
        using var listener = Listen(out var port);
        try
        {
            await using var server = await ServerProcess.StartAsync(Path.Combine(root, "data"), new Dictionary<string, string> { ["Sandbox:Network"] = "Host" });

            var log = await BuildAsync(server, port);

            Assert.Contains("network: the host's", log, StringComparison.Ordinal);
            Assert.Contains("LISTENER-REACHED", log, StringComparison.Ordinal);
            Assert.Contains("API-REACHED", log, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static TcpListener Listen(out int port)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        port = ((IPEndPoint)listener.LocalEndpoint).Port;
        return listener;
    }

    private static async Task<string> BuildAsync(ServerProcess server, int listenerPort)
    {
        using var client = server.CreateClient();
        var build = await ApiCalls.StartBuildAsync(client, $"net-{Guid.NewGuid():N}"[..20], new Dictionary<string, string>
        {
            ["build.sh"] = $"""
                if bash -c "exec 3<>/dev/tcp/127.0.0.1/{listenerPort}"; then echo LISTENER-REACHED; else echo LISTENER-REFUSED; fi
                if curl -sS -m 5 -o /dev/null http://127.0.0.1:{server.Url.Port}/healthz; then echo API-REACHED; else echo API-REFUSED; fi
                """,
        });
        var ended = await ApiCalls.WaitForEndAsync(client, build.Id);
        var log = await ApiCalls.GetLogAsync(client, build.Id);
        Assert.True(ended.Status == BuildStatus.Succeeded, log);
        return log;
    }
}
