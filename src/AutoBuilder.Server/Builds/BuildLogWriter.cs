using AutoBuilder.Core.Storage;

namespace AutoBuilder.Server.Builds;

/// <summary>Writes AutoBuilder's own lines into a build log.</summary>
public static class BuildLogWriter
{
    public static async Task AppendLineAsync(IBlobStore store, BlobRef log, string line, CancellationToken cancellationToken = default)
    {
        using var content = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(line + "\n"));
        await store.AppendAsync(log, content, cancellationToken);
    }
}
