using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace AutoBuilder.Runner.Processes;

/// <summary>
/// The host's IPv4 networks an Egress build must not reach: every network the host is connected to (each on-link
/// route, each interface address with its prefix) and every gateway its routes go through.
/// </summary>
public sealed record HostNetworks(IReadOnlyList<IPNetwork> Networks, IReadOnlyList<IPAddress> Gateways)
{
    private const string RouteTable = "/proc/net/route";

    // rtentry flags (linux/route.h).
    private const int RouteGateway = 0x2;
    private const int RouteReject = 0x200;

    /// <summary>This host's, from its main routing table and its interfaces.</summary>
    public static HostNetworks OfThisHost()
    {
        var interfaces = NetworkInterface.GetAllNetworkInterfaces()
            .SelectMany(i => i.GetIPProperties().UnicastAddresses)
            .Where(u => u.Address.AddressFamily == AddressFamily.InterNetwork)
            .Select(u => (u.Address, u.PrefixLength));
        return From(File.Exists(RouteTable) ? File.ReadAllText(RouteTable) : "", interfaces);
    }

    /// <param name="routeTable">
    /// The text of /proc/net/route: a header, then one route a line, tab-separated: Iface, Destination, Gateway, Flags,
    /// RefCnt, Use, Metric, Mask, … with addresses in hex as the kernel stores them (network byte order read as a
    /// native integer).
    /// </param>
    /// <param name="interfaceAddresses">Each interface address and its prefix length.</param>
    public static HostNetworks From(string routeTable, IEnumerable<(IPAddress Address, int PrefixLength)> interfaceAddresses)
    {
        ArgumentNullException.ThrowIfNull(routeTable);
        var networks = new List<IPNetwork>();
        var gateways = new List<IPAddress>();
        foreach (var line in routeTable.Split('\n').Skip(1))
        {
            if (line.Split('\t', StringSplitOptions.TrimEntries) is not [var device, var destination, var gateway, var flagsText, _, _, _, var mask, ..]
                || device == "lo"
                || !int.TryParse(flagsText, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var flags)
                || (flags & RouteReject) != 0
                || Address(destination) is not { } to || Address(gateway) is not { } via || Address(mask) is not { } netmask)
            {
                continue;
            }

            if ((flags & RouteGateway) != 0)
            {
                gateways.Add(via);
            }
            else if (PrefixLength(netmask) is > 0 and var length)
            {
                // On-link: the host reaches these addresses directly. (A default route without a gateway, /0, is the internet.)
                networks.Add(Network(to, length));
            }
        }

        foreach (var (address, prefixLength) in interfaceAddresses)
        {
            if (address.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(address) && prefixLength is > 0 and <= 32)
            {
                networks.Add(Network(address, prefixLength));
            }
        }

        return new HostNetworks([.. networks.Distinct()], [.. gateways.Distinct()]);
    }

    /// <summary>The network of <paramref name="address"/>: its first <paramref name="prefixLength"/> bits.</summary>
    public static IPNetwork Network(IPAddress address, int prefixLength)
    {
        ArgumentNullException.ThrowIfNull(address);
        var bytes = address.GetAddressBytes();
        for (var bit = prefixLength; bit < bytes.Length * 8; bit++)
        {
            bytes[bit / 8] &= (byte)~(0x80 >> (bit % 8));
        }

        return new IPNetwork(new IPAddress(bytes), prefixLength);
    }

    private static IPAddress? Address(string hex) =>
        hex.Length == 8 && uint.TryParse(hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var value)
            ? new IPAddress(BitConverter.GetBytes(value))
            : null;

    private static int PrefixLength(IPAddress mask) =>
        mask.GetAddressBytes().Sum(b => System.Numerics.BitOperations.PopCount(b));
}
