using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace AutoBuilder.Runner.Processes;

/// <summary>The build's network could not be set up; the build fails with this reason (it never falls back to the host's).</summary>
public sealed class SandboxNetworkException(string message) : Exception(message);

/// <summary>
/// Sandbox:Network=Egress: the build gets a network namespace of its own (made by the launcher with unshare --net, as
/// root), connected to the internet by slirp4netns — a user-mode TCP/IP stack that makes the build's connections as
/// ordinary sockets of the host — with the host's loopback refused (--disable-host-loopback). Inside the namespace,
/// before the build starts, `unreachable` routes refuse private and link-local networks (cloud metadata), every network
/// the host is connected to and its gateways (<see cref="HostNetworks"/>); the resolvers (those of /etc/resolv.conf and
/// slirp4netns's forwarder) are reached on port 53 only, and Sandbox:AllowedNetworks all the same. The build runs
/// without capabilities in a user namespace that does not own the network namespace: it cannot change them.
/// </summary>
public sealed class EgressNetwork(IReadOnlyList<string> allowedNetworks)
{
    public const string SlirpExecutable = "slirp4netns";

    /// <summary>slirp4netns's fixed addresses: the gateway (the host's loopback, refused) and the build's address.</summary>
    public const string Gateway = "10.0.2.2";

    /// <summary>IPv4 networks a build never reaches through Egress (RFC 6890 special purpose, private, link-local).</summary>
    public static readonly IReadOnlyList<string> RefusedNetworks =
    [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
        "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
    ];

    private const string SlirpDevice = "tap0";
    private static readonly TimeSpan SetupLimit = TimeSpan.FromSeconds(20);

    /// <summary>slirp4netns's DNS forwarder. It forwards every port of this address to the host's resolver, hence the rules.</summary>
    public const string SlirpResolver = "10.0.2.3";

    /// <summary>slirp4netns's own network (its gateway, resolver and the build's address): never refused.</summary>
    private static readonly IPNetwork SlirpNetwork = IPNetwork.Parse("10.0.2.0/24");

    /// <summary>The routing table that reaches the resolvers, used only for DNS (port 53) by the rules.</summary>
    private const int ResolverTable = 53;

    /// <summary>
    /// The `ip -batch` lines that shape the namespace's routes: `unreachable` for the refused networks, the host's
    /// connected networks, its gateways and the resolvers; the resolvers (those of /etc/resolv.conf and slirp4netns's
    /// forwarder) reached on port 53 only, through a table of their own that rules choose by protocol and port; and the
    /// allowed networks routed through the gateway, so that what lies inside one is not refused.
    /// </summary>
    public static IReadOnlyList<string> Routes(HostNetworks host, IEnumerable<IPAddress> resolvers, IEnumerable<string> allowed)
    {
        ArgumentNullException.ThrowIfNull(host);
        var allowedNetworks = allowed.ToList();
        var parsedAllowed = allowedNetworks.Select(n => IPNetwork.TryParse(n, out var network) ? network : (IPNetwork?)null).OfType<IPNetwork>().ToList();
        bool IsAllowed(IPNetwork network) => parsedAllowed.Any(a => a.PrefixLength <= network.PrefixLength && a.Contains(network.BaseAddress));

        // The host's networks, less those slirp4netns's own network shadows anyway (refusing them would refuse its gateway).
        var hostRefused = host.Networks.Concat(host.Gateways.Select(g => new IPNetwork(g, 32)))
            .Where(n => n.BaseAddress.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(n.BaseAddress) && n.PrefixLength > 0)
            .Where(n => !(n.PrefixLength >= SlirpNetwork.PrefixLength && SlirpNetwork.Contains(n.BaseAddress)) && !IsAllowed(n));
        var resolverAddresses = resolvers.Where(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a))
            .Select(a => new IPNetwork(a, 32)).Where(n => !IsAllowed(n)).Distinct().ToList();
        var slirpResolver = new IPNetwork(IPAddress.Parse(SlirpResolver), 32);

        var lines = RefusedNetworks.Select(network => $"route add unreachable {network}").ToList();
        lines.AddRange(hostRefused.Concat(resolverAddresses).Append(slirpResolver).Select(n => $"route add unreachable {n}"));
        foreach (var resolver in resolverAddresses.Append(slirpResolver))
        {
            lines.Add(resolver == slirpResolver
                ? $"route add {resolver} dev {SlirpDevice} table {ResolverTable}"
                : $"route add {resolver} via {Gateway} dev {SlirpDevice} table {ResolverTable}");
            lines.Add($"rule add to {resolver} ipproto udp dport 53 table {ResolverTable} pref 100");
            lines.Add($"rule add to {resolver} ipproto tcp dport 53 table {ResolverTable} pref 100");
        }

        lines.AddRange(allowedNetworks.Select(network => $"route replace {network} via {Gateway} dev {SlirpDevice}"));
        return lines.Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>Null when Egress can be provided here; else why not (said once at start-up, and builds get no network).</summary>
    public static string? Unavailable()
    {
        if (!OperatingSystem.IsLinux() || !Environment.IsPrivilegedProcess)
        {
            return "it needs the runner to be root (it makes the build's network namespace)";
        }

        if (Sandbox.Find() is null || Executables.Find(SlirpExecutable) is null)
        {
            return "slirp4netns is not installed (apt-get install slirp4netns)";
        }

        if (!File.Exists("/dev/net/tun"))
        {
            return "/dev/net/tun does not exist";
        }

        foreach (var tool in new[] { "/usr/bin/unshare", "/usr/bin/nsenter", IpTool })
        {
            if (!File.Exists(tool))
            {
                return $"{tool} is missing (util-linux, iproute2)";
            }
        }

        return null;
    }

    private const string IpTool = "/usr/sbin/ip";

    /// <summary>
    /// Connects the namespace of <paramref name="pid"/> (the launcher, waiting on its stdin for the runner's word) to the
    /// internet and shapes its routes; the caller then lets the launcher go on. The result stops slirp4netns.
    /// </summary>
    /// <exception cref="SandboxNetworkException">The network could not be set up.</exception>
    public async Task<IAsyncDisposable> AttachAsync(int pid, CancellationToken cancellationToken)
    {
        var slirpPath = Executables.Find(SlirpExecutable) ?? throw new SandboxNetworkException("slirp4netns is not installed");
        using (var entering = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            entering.CancelAfter(SetupLimit);
            try
            {
                await WaitForOwnNamespaceAsync(pid, entering.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new SandboxNetworkException($"the build's launcher did not make its network namespace within {SetupLimit.TotalSeconds:0}s");
            }
        }

        // --exit-fd=0: its stdin is a pipe from this process, so it also ends when the runner dies without stopping it.
        var slirp = Start(slirpPath, ["--configure", "--mtu=65520", "--disable-host-loopback", "--enable-sandbox", "--enable-seccomp", "--exit-fd=0",
            pid.ToString(CultureInfo.InvariantCulture), SlirpDevice]);
        var stopper = new SlirpProcess(slirp);
        try
        {
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            limit.CancelAfter(SetupLimit);
            await WaitForDefaultRouteAsync(pid, slirp, limit.Token).ConfigureAwait(false);
            var routes = Routes(HostNetworks.OfThisHost(), Resolvers(), allowedNetworks);
            using var ip = Start("/usr/bin/nsenter", [$"--net=/proc/{pid}/ns/net", IpTool, "-batch", "-"]);
            await ip.StandardInput.WriteAsync(string.Join('\n', routes) + "\n").ConfigureAwait(false);
            ip.StandardInput.Close();
            var errors = ip.StandardError.ReadToEndAsync(limit.Token);
            await ip.WaitForExitAsync(limit.Token).ConfigureAwait(false);
            if (ip.ExitCode != 0)
            {
                throw new SandboxNetworkException($"its routes could not be set: {(await errors.ConfigureAwait(false)).Trim()}");
            }

            return stopper;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            await stopper.DisposeAsync().ConfigureAwait(false);
            throw new SandboxNetworkException($"slirp4netns did not connect it within {SetupLimit.TotalSeconds:0}s: {stopper.Output}");
        }
        catch
        {
            await stopper.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// The launcher is started in the host's namespace and makes its own a moment later (unshare --net): slirp4netns must
    /// not be pointed at it before, or it would configure the host's network.
    /// </summary>
    private static async Task WaitForOwnNamespaceAsync(int pid, CancellationToken cancellationToken)
    {
        var host = new FileInfo("/proc/self/ns/net").LinkTarget; // "net:[4026531840]"
        while (true)
        {
            var launcher = new FileInfo($"/proc/{pid}/ns/net").LinkTarget
                ?? throw new SandboxNetworkException("the build's launcher ended before its network was made");
            if (launcher != host)
            {
                return;
            }

            await Task.Delay(10, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>slirp4netns has configured tap0 once the namespace has a default route through it.</summary>
    private static async Task WaitForDefaultRouteAsync(int pid, Process slirp, CancellationToken cancellationToken)
    {
        var routes = $"/proc/{pid}/net/route";
        while (true)
        {
            if (slirp.HasExited)
            {
                throw new SandboxNetworkException($"slirp4netns exited with code {slirp.ExitCode}: {(await slirp.StandardError.ReadToEndAsync(cancellationToken).ConfigureAwait(false)).Trim()}");
            }

            string[] lines;
            try
            {
                lines = await File.ReadAllLinesAsync(routes, cancellationToken).ConfigureAwait(false);
            }
            catch (IOException)
            {
                throw new SandboxNetworkException("the build's launcher ended before its network was ready");
            }

            // Iface Destination Gateway ...: the default route has destination 00000000.
            if (lines.Skip(1).Any(line => line.Split('\t') is [SlirpDevice, "00000000", ..]))
            {
                return;
            }

            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The nameservers the build's /etc/resolv.conf (the host's, read-only) names.</summary>
    private static IEnumerable<IPAddress> Resolvers()
    {
        const string resolvConf = "/etc/resolv.conf";
        if (!File.Exists(resolvConf))
        {
            return [];
        }

        return File.ReadLines(resolvConf)
            .Select(line => line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
            .Where(words => words is ["nameserver", _, ..])
            .Select(words => IPAddress.TryParse(words[1], out var address) ? address : null)
            .OfType<IPAddress>()
            .ToList();
    }

    private static Process Start(string executable, IEnumerable<string> arguments)
    {
        var startInfo = new ProcessStartInfo(executable)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = "/",
        };
        startInfo.Environment.Clear();
        startInfo.Environment["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin";
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        return Process.Start(startInfo) ?? throw new SandboxNetworkException($"{executable} did not start");
    }

    /// <summary>Stops slirp4netns when the build's namespace is no longer needed; keeps what it said for error messages.</summary>
    private sealed class SlirpProcess : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _output = new();

        public SlirpProcess(Process process)
        {
            _process = process; // its stdin stays open: closing it (or this process dying) ends slirp4netns (--exit-fd=0).
            _process.OutputDataReceived += (_, e) => Append(e.Data);
            _process.BeginOutputReadLine();
        }

        public string Output
        {
            get
            {
                lock (_output)
                {
                    return _output.ToString().Trim();
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            try
            {
                _process.Kill();
            }
            catch (InvalidOperationException)
            {
                // Already gone with its namespace.
            }

            await _process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            _process.Dispose();
        }

        private void Append(string? line)
        {
            if (line is not null)
            {
                lock (_output)
                {
                    _output.AppendLine(line);
                }
            }
        }
    }
}
