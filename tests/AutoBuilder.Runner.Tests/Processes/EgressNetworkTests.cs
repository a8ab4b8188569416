using System.Net;
using System.Net.Sockets;
using System.Text;
using AutoBuilder.Runner.Processes;

namespace AutoBuilder.Runner.Tests.Processes;

/// <summary>
/// Sandbox:Network=Egress, for real: the build's own namespace, slirp4netns and its routes (scripts/test.sh installs
/// slirp4netns; the tests run as root, like the server). Traffic goes only to this machine's loopback and, as a
/// positive control that egress works, to the npm registry through npm; refused networks are checked with
/// `ip route get`, which sends nothing.
/// </summary>
public sealed class EgressNetworkTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly StringBuilder _output = new();

    public EgressNetworkTests()
    {
        foreach (var folder in new[] { "src", "home", "tmp", "cache" })
        {
            Directory.CreateDirectory(_temp.Combine(folder));
            BuildUserAccess.GiveTo(_temp.Combine(folder), BuildUser);
        }
    }

    private static BuildUser BuildUser { get; } = new(64000, 64000);

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Routes_RefusePrivateLinkLocalAndTheHost_ButPassTheResolverAndAllowedNetworks()
    {
        var routes = EgressNetwork.Routes(
            [IPAddress.Parse("192.0.2.2"), IPAddress.Loopback, IPAddress.IPv6Loopback],
            [IPAddress.Parse("10.255.255.53")],
            ["10.9.8.0/24"]);

        foreach (var network in new[] { "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10" })
        {
            Assert.Contains($"route add unreachable {network}", routes);
        }

        Assert.Contains("route add unreachable 192.0.2.2/32", routes);
        Assert.DoesNotContain(routes, route => route.Contains("127.0.0.1", StringComparison.Ordinal));
        Assert.Contains("route replace 10.255.255.53/32 via 10.0.2.2 dev tap0", routes);
        Assert.Contains("route replace 10.9.8.0/24 via 10.0.2.2 dev tap0", routes);
    }

    [Fact]
    public void Unavailable_OnThisMachine_IsNull() => Assert.Null(EgressNetwork.Unavailable());

    [Fact]
    public async Task Egress_ReachesTheInternet_NotTheHostsLoopbackNorRefusedNetworks()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;

        var result = await RunAsync(Script(port), new EgressNetwork(["10.9.8.0/24"]));

        var output = _output.ToString();
        Assert.True(result.ExitCode == 0, output);
        Assert.Contains("loopback: refused", output, StringComparison.Ordinal);
        Assert.DoesNotContain("loopback: reached", output, StringComparison.Ordinal);
        Assert.Contains("10.1.2.3: unreachable", output, StringComparison.Ordinal);
        Assert.Contains("169.254.169.254: unreachable", output, StringComparison.Ordinal);
        Assert.Contains("10.9.8.7: routed", output, StringComparison.Ordinal);
        Assert.True(output.Contains("registry: 7.0.0", StringComparison.Ordinal), output); // it does reach the internet
        Assert.Contains("uid 64000", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HostNetwork_ReachesTheHostsLoopback_TheDifferenceEgressMakes()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;

        var result = await RunAsync(Script(port), egress: null);

        Assert.True(result.ExitCode == 0, _output.ToString());
        Assert.Contains("loopback: reached", _output.ToString(), StringComparison.Ordinal);
    }

    private static string Script(int port) => $$"""
        echo "uid $(id -u)"
        if bash -c "exec 3<>/dev/tcp/127.0.0.1/{{port}}" 2>/dev/null; then echo "loopback: reached"; else echo "loopback: refused"; fi
        for address in 10.1.2.3 169.254.169.254 10.9.8.7; do
          if ip route get "$address" 2>&1 | grep -q "via 10.0.2.2"; then echo "$address: routed"; else echo "$address: unreachable"; fi
        done
        echo "registry: $(npm view is-number@7.0.0 version --no-update-notifier 2>/dev/null)"
        """;

    private Task<BuildProcessResult> RunAsync(string command, EgressNetwork? egress)
    {
        var source = _temp.Combine("src");
        var sandbox = Sandbox.Arguments(new SandboxRequest([source, _temp.Combine("home"), _temp.Combine("tmp"), _temp.Combine("cache")], source, Network: true, _temp.Combine("tmp")));
        return new BuildProcess().RunAsync(
            new BuildProcessRequest
            {
                Command = command,
                WorkingDirectory = source,
                Environment = new Dictionary<string, string>
                {
                    ["PATH"] = "/usr/sbin:/usr/bin:/bin",
                    ["HOME"] = _temp.Combine("home"),
                    ["npm_config_cache"] = _temp.Combine("cache", "npm"),
                },
                Timeout = TimeSpan.FromMinutes(3),
                Sandbox = [Sandbox.Find()!, .. sandbox],
                SandboxStatusFile = _temp.Combine("status.json"),
                RunAs = BuildUser,
                Egress = egress,
            },
            (bytes, _) =>
            {
                lock (_output)
                {
                    _output.Append(Encoding.UTF8.GetString(bytes.Span));
                }

                return ValueTask.CompletedTask;
            });
    }
}
