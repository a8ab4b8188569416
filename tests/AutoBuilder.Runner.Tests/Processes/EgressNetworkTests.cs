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
            HostNetworks.From("", [(IPAddress.Parse("192.0.2.2"), 32), (IPAddress.Loopback, 8), (IPAddress.IPv6Loopback, 128)]),
            [IPAddress.Parse("10.255.255.53")],
            ["10.9.8.0/24"]);

        foreach (var network in new[] { "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10" })
        {
            Assert.Contains($"route add unreachable {network}", routes);
        }

        Assert.Contains("route add unreachable 192.0.2.2/32", routes);
        Assert.DoesNotContain(routes, route => route.Contains("127.0.0.1", StringComparison.Ordinal) || route.Contains("::1", StringComparison.Ordinal));
        Assert.Contains("route add 10.255.255.53/32 via 10.0.2.2 dev tap0 table 53", routes);
        Assert.Contains("route replace 10.9.8.0/24 via 10.0.2.2 dev tap0", routes);
    }

    /// <summary>
    /// A host on a network that is not private (192.0.2.0/24 here), a second interface with an on-link route and no
    /// address, a network behind another gateway, a point-to-point address, and routes that are not networks to refuse.
    /// </summary>
    private const string FakeRouteTable = """
        Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
        eth0	00000000	010200C0	0003	0	0	0	00000000	0	0	0
        eth0	000200C0	00000000	0001	0	0	0	00FFFFFF	0	0	0
        eth1	006433C6	00000000	0001	0	0	0	00FFFFFF	0	0	0
        eth1	007100CB	FE6433C6	0003	0	0	0	00FFFFFF	0	0	0
        eth1	0000000A	00000000	0201	0	0	0	000000FF	0	0	0
        lo	0000007F	00000000	0001	0	0	0	000000FF	0	0	0
        tap9	0002000A	00000000	0001	0	0	0	00FFFFFF	0	0	0
        eth2	000A0A0A	00000000	0001	0	0	0	00FFFFFF	0	0	0
        """;

    [Fact]
    public void HostNetworks_FromTheRouteTable_AreEveryOnLinkNetworkAndGateway()
    {
        var host = HostNetworks.From(FakeRouteTable.Replace("\r", "", StringComparison.Ordinal), [(IPAddress.Parse("203.0.113.7"), 32), (IPAddress.Parse("192.0.2.2"), 24)]);

        Assert.Equal(["192.0.2.0/24", "198.51.100.0/24", "10.0.2.0/24", "10.10.10.0/24", "203.0.113.7/32"], host.Networks.Select(n => n.ToString()));
        Assert.Equal(["192.0.2.1", "198.51.100.254"], host.Gateways.Select(g => g.ToString()));
    }

    [Fact]
    public void Routes_TheHostsWholeNetworksAndGateways_AreRefusedUnlessAllowed()
    {
        var host = HostNetworks.From(FakeRouteTable.Replace("\r", "", StringComparison.Ordinal), [(IPAddress.Parse("203.0.113.7"), 32)]);

        var routes = EgressNetwork.Routes(host, [], ["10.10.0.0/16"]);

        // Not only the host's own address: its whole network, the other interface's, and both gateways.
        Assert.Contains("route add unreachable 192.0.2.0/24", routes);
        Assert.Contains("route add unreachable 192.0.2.1/32", routes);
        Assert.Contains("route add unreachable 198.51.100.0/24", routes);
        Assert.Contains("route add unreachable 198.51.100.254/32", routes);
        Assert.Contains("route add unreachable 203.0.113.7/32", routes);
        // Inside an allowed network: reached like the rest of it. slirp4netns's own network (a host that is itself a
        // slirp guest): not refused, or the build's gateway would be.
        Assert.DoesNotContain("route add unreachable 10.10.10.0/24", routes);
        Assert.Contains("route replace 10.10.0.0/16 via 10.0.2.2 dev tap0", routes);
        Assert.DoesNotContain("route add unreachable 10.0.2.0/24", routes);
        Assert.DoesNotContain(routes, route => route.Contains("0.0.0.0/0", StringComparison.Ordinal) || route.Contains("10.0.2.2/32", StringComparison.Ordinal));
    }

    [Fact]
    public void Routes_ASlirpShadowedOrAllowedHostNetwork_IsNotRefused()
    {
        // A host that is itself a slirp guest (10.0.2.15/24), and a gateway inside an allowed network.
        var host = new HostNetworks([IPNetwork.Parse("10.0.2.0/24"), IPNetwork.Parse("10.0.2.128/25")], [IPAddress.Parse("10.20.0.1")]);

        var routes = EgressNetwork.Routes(host, [], ["10.20.0.0/16"]);

        Assert.DoesNotContain(routes, route => route.Contains("unreachable 10.0.2.", StringComparison.Ordinal) && !route.EndsWith("10.0.2.3/32", StringComparison.Ordinal));
        Assert.DoesNotContain("route add unreachable 10.20.0.1/32", routes);
    }

    [Fact]
    public void Routes_Resolvers_AreReachedOnPort53Only()
    {
        var routes = EgressNetwork.Routes(new HostNetworks([], []), [IPAddress.Parse("10.255.255.53"), IPAddress.Parse("127.0.0.53")], []);

        foreach (var (resolver, route) in new[] { ("10.255.255.53/32", "via 10.0.2.2 dev tap0"), ("10.0.2.3/32", "dev tap0") })
        {
            // Every port refused in the main table; port 53 (UDP and TCP) looked up in the resolvers' own table.
            Assert.Contains($"route add unreachable {resolver}", routes);
            Assert.Contains($"route add {resolver} {route} table 53", routes);
            Assert.Contains($"rule add to {resolver} ipproto udp dport 53 table 53 pref 100", routes);
            Assert.Contains($"rule add to {resolver} ipproto tcp dport 53 table 53 pref 100", routes);
        }

        Assert.DoesNotContain(routes, route => route.Contains("127.0.0.53", StringComparison.Ordinal));
        Assert.DoesNotContain(routes, route => route.StartsWith("route replace", StringComparison.Ordinal));
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
    public async Task Egress_RefusesTheHostsNetworksAndGateways_AndTheResolversButOnPort53()
    {
        // This machine's own networks and gateways, and its resolvers: checked with `ip route get` (which sends nothing),
        // and one real connection to slirp4netns's forwarder on a port other than 53, tried only once the route refuses it.
        var host = HostNetworks.OfThisHost();
        var targets = host.Networks.Where(n => n.PrefixLength < 32).Select(n => FirstHost(n)).Concat(host.Gateways)
            .Where(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a)).Distinct().ToList();
        var resolvers = File.ReadLines("/etc/resolv.conf").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(w => w is ["nameserver", _, ..] && IPAddress.TryParse(w[1], out var a) && a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a))
            .Select(w => w[1]).Append(EgressNetwork.SlirpResolver).ToList();
        Assert.NotEmpty(targets);

        var result = await RunAsync($$"""
            for address in {{string.Join(' ', targets)}}; do
              if ip route get "$address" >/dev/null 2>&1; then echo "host $address: routed"; else echo "host $address: unreachable"; fi
            done
            for resolver in {{string.Join(' ', resolvers)}}; do
              if ip route get "$resolver" ipproto udp dport 53 >/dev/null 2>&1; then echo "resolver $resolver udp/53: routed"; else echo "resolver $resolver udp/53: unreachable"; fi
              if ip route get "$resolver" ipproto tcp dport 53 >/dev/null 2>&1; then echo "resolver $resolver tcp/53: routed"; else echo "resolver $resolver tcp/53: unreachable"; fi
              if ip route get "$resolver" ipproto tcp dport 80 >/dev/null 2>&1; then echo "resolver $resolver tcp/80: routed"; else echo "resolver $resolver tcp/80: unreachable"; fi
            done
            if ip route get {{EgressNetwork.SlirpResolver}} ipproto tcp dport 80 >/dev/null 2>&1; then
              echo "connect: not tried, routed"
            else
              echo "connect: $(bash -c 'exec 3<>/dev/tcp/{{EgressNetwork.SlirpResolver}}/80' 2>&1)"
            fi
            """, new EgressNetwork([]));

        var output = _output.ToString();
        Assert.True(result.ExitCode == 0, output);
        foreach (var address in targets)
        {
            Assert.Contains($"host {address}: unreachable", output, StringComparison.Ordinal);
        }

        foreach (var resolver in resolvers)
        {
            Assert.Contains($"resolver {resolver} udp/53: routed", output, StringComparison.Ordinal);
            Assert.Contains($"resolver {resolver} tcp/53: routed", output, StringComparison.Ordinal);
            Assert.Contains($"resolver {resolver} tcp/80: unreachable", output, StringComparison.Ordinal);
        }

        // Refused by the build's own kernel at once (no route), not by a timeout or by the far end.
        Assert.Contains("connect: bash: connect: No route to host", output, StringComparison.Ordinal);
    }

    private static IPAddress FirstHost(IPNetwork network)
    {
        var bytes = network.BaseAddress.GetAddressBytes();
        bytes[^1] |= 1;
        return new IPAddress(bytes);
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
