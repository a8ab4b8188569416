using AutoBuilder.Core.Protocol;

namespace AutoBuilder.Server.Hosting;

/// <summary>Section "Sandbox": the build command's isolation under the local executor (bubblewrap).</summary>
public sealed class SandboxOptions
{
    public const string Section = "Sandbox";

    public SandboxMode Mode { get; set; } = SandboxMode.Auto;

    /// <summary>
    /// Egress (default): the internet through a user-mode stack, nothing internal. None: no network. Host: the host's
    /// network, its loopback services included (trusted builds only). Egress needs root and slirp4netns; without them
    /// builds get None, said once at start-up — never Host.
    /// </summary>
    public SandboxNetwork Network { get; set; } = SandboxNetwork.Egress;

    /// <summary>Private networks, or networks the host is connected to (CIDR, e.g. 10.1.2.0/24 for a registry mirror), Egress builds may reach all the same.</summary>
    public List<string> AllowedNetworks { get; set; } = [];

    /// <summary>Handed to builds as HTTP_PROXY/http_proxy (a corporate proxy; list its address in AllowedNetworks when private or on the host's own network).</summary>
    public string? HttpProxy { get; set; }

    /// <summary>Handed to builds as HTTPS_PROXY/https_proxy.</summary>
    public string? HttpsProxy { get; set; }

    /// <summary>Handed to builds as NO_PROXY/no_proxy.</summary>
    public string? NoProxy { get; set; }

    /// <summary>
    /// When the server (or runner) runs as root, builds run as this unprivileged uid instead, inside and outside the
    /// sandbox, so that an escape would not be root. Pick a uid that no other account on the machine uses.
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(1, int.MaxValue)]
    public int BuildUid { get; set; } = DefaultBuildUid;

    /// <summary>The build user's group; default: the same number as <see cref="BuildUid"/>.</summary>
    [System.ComponentModel.DataAnnotations.Range(1, int.MaxValue)]
    public int? BuildGid { get; set; }

    /// <summary>"10.1.2.0/24": what Egress can route through (IPv4 only; builds have no IPv6 route).</summary>
    public static bool IsIPv4Network(string? value) =>
        System.Net.IPNetwork.TryParse(value, out var network) && network.BaseAddress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork;

    /// <summary>Outside the ranges Debian gives to accounts (1000–59999) and to its packages (60000–63999 is free for sites).</summary>
    public const int DefaultBuildUid = 64000;
}
