using AutoBuilder.Core;
using AutoBuilder.Core.Storage;

namespace AutoBuilder.Server.Builds;

/// <summary>Writes AutoBuilder's own lines into a build log.</summary>
public static class BuildLogWriter
{
    /// <summary>The longest line written; a longer one is cut.</summary>
    public const int MaxLineChars = 16 * 1024;

    /// <summary>Appends one of the server's own lines; what it carries (a runner's reason, an error) is escaped, so it stays one line.</summary>
    public static async Task AppendLineAsync(IBlobStore store, BlobRef log, string line, CancellationToken cancellationToken = default)
    {
        using var content = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(Printable.Of(line, MaxLineChars) + "\n"));
        await store.AppendAsync(log, content, cancellationToken);
    }
}
