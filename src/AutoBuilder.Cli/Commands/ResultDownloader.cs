using System.Globalization;
using System.Net;
using AutoBuilder.Cli.Client;
using AutoBuilder.Core;
using AutoBuilder.Core.Api;
using AutoBuilder.Core.Protocol;
using Spectre.Console;

namespace AutoBuilder.Cli.Commands;

/// <summary>Downloads a build's result.zip and artifacts, verifying every artifact's size and SHA-256.</summary>
internal static class ResultDownloader
{
    public static string DefaultOutputFolder(BuildDto build) =>
        Path.Combine("autobuilder-out", build.ProjectId, build.Number.ToString(CultureInfo.InvariantCulture));

    /// <summary>Writes {out}/result.zip and {out}/artifacts/{version}/{name}; returns the number of files written.</summary>
    public static async Task<int> DownloadAsync(AutoBuilderClient client, ClientConsole console, BuildDto build, string outputFolder, CancellationToken cancellationToken = default)
    {
        var root = Path.GetFullPath(outputFolder, console.WorkingDirectory);
        var written = new List<(string What, long Size, string Path)>();

        SignedLink? result = null;
        try
        {
            result = await client.GetResultLinkAsync(build.Id, cancellationToken);
        }
        catch (AutoBuilderApiException ex) when (ex.StatusCode == HttpStatusCode.NotFound)
        {
            console.Out.MarkupLineInterpolated($"[grey]Build {build.Id} has no result.zip.[/]");
        }

        if (result is not null)
        {
            var path = Path.Combine(root, "result.zip");
            var (size, _) = await DownloadFileAsync(client, result.Url, path, cancellationToken);
            written.Add(("result.zip", size, path));
        }

        foreach (var artifact in await client.GetArtifactsAsync(build.Id, cancellationToken))
        {
            if (!Ids.IsValidVersion(artifact.Version) || !Ids.IsValidFileName(artifact.Name))
            {
                throw new AutoBuilderClientException($"The server listed an artifact with an unsafe version or name ('{artifact.Version}/{artifact.Name}'); not downloaded.");
            }

            var path = Path.Combine(root, "artifacts", artifact.Version, artifact.Name);
            var (size, sha256) = await DownloadFileAsync(client, artifact.Url, path, cancellationToken);
            if (size != artifact.Size || !string.Equals(sha256, artifact.Sha256, StringComparison.OrdinalIgnoreCase))
            {
                File.Delete(path);
                throw new AutoBuilderClientException(
                    $"Artifact {artifact.Version}/{artifact.Name} is corrupt: got {size} bytes with SHA-256 {sha256}, " +
                    $"the server expects {artifact.Size} bytes with SHA-256 {artifact.Sha256}. The file was deleted.");
            }

            written.Add(($"{artifact.Version}/{artifact.Name} (SHA-256 verified)", size, path));
        }

        if (written.Count > 0)
        {
            var table = new Table().Border(TableBorder.Rounded).AddColumn("downloaded").AddColumn("size", c => c.RightAligned()).AddColumn("to");
            foreach (var (what, size, path) in written)
            {
                table.AddRow(new Text(what), new Text(BuildView.FormatBytes(size)), new Text(path));
            }

            console.Out.Write(table);
        }

        return written.Count;
    }

    /// <summary>Streams to "{path}.partial", then moves it over <paramref name="path"/>; a failed download leaves no file.</summary>
    private static async Task<(long Size, string Sha256)> DownloadFileAsync(AutoBuilderClient client, Uri url, string path, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var partial = path + ".partial";
        try
        {
            string sha256;
            long size;
            await using (var file = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                sha256 = await client.DownloadAsync(url, file, onProgress: null, cancellationToken);
                size = file.Length;
            }

            File.Move(partial, path, overwrite: true);
            return (size, sha256);
        }
        catch
        {
            File.Delete(partial);
            throw;
        }
    }
}
