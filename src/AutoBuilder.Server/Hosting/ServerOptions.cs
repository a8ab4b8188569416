using System.ComponentModel.DataAnnotations;

namespace AutoBuilder.Server.Hosting;

/// <summary>Section "Server".</summary>
public sealed class ServerOptions
{
    public const string Section = "Server";

    /// <summary>Everything of an embedded server lives here: metadata, blobs, cache, keys.</summary>
    [Required]
    public string DataDirectory { get; set; } = ".autobuilder";

    /// <summary>The address users and runners reach this server at; default: the first listening address.</summary>
    public Uri? PublicUrl { get; set; }

    public ServerRole Role { get; set; } = ServerRole.All;

    /// <summary>The largest JSON body any endpoint reads.</summary>
    [Range(1024, 16 * 1024 * 1024)]
    public int MaxJsonBytes { get; set; } = 64 * 1024;
}
