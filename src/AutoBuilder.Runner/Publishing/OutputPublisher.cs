using AutoBuilder.Core;
using AutoBuilder.Core.Protocol;
using AutoBuilder.Runner.Api;

namespace AutoBuilder.Runner.Publishing;

/// <summary>Uploads result.zip, artifacts and result.json through signed single-blob URLs.</summary>
public sealed class OutputPublisher(RunnerApiClient api, string scratchDirectory, Func<string, ValueTask> log)
{
    /// <summary>Zips the matching outputs into result.zip and uploads it.</summary>
    public async Task<IReadOnlyList<FileEntry>> PublishResultAsync(string sourceRoot, IReadOnlyList<string> relativePaths, CancellationToken cancellationToken = default)
    {
        var zipPath = Path.Combine(scratchDirectory, "result.zip");
        try
        {
            var files = await ResultZipWriter.WriteAsync(sourceRoot, relativePaths, zipPath, cancellationToken).ConfigureAwait(false);
            var link = await api.RequestUploadAsync(new UploadRequest(UploadKind.Result), cancellationToken).ConfigureAwait(false);
            await api.UploadFileAsync(link.Url, zipPath, cancellationToken).ConfigureAwait(false);
            await log(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"publishing: result.zip with {files.Count:N0} files, {Size(files.Sum(f => f.Size))}")).ConfigureAwait(false);
            return files;
        }
        finally
        {
            File.Delete(zipPath);
        }
    }

    /// <summary>Checks that the artifacts can be published under their file names.</summary>
    /// <exception cref="BuildFailureException">Two artifacts share a name, or a name is not valid.</exception>
    public static IReadOnlyList<(string Name, string RelativePath)> NameArtifacts(IReadOnlyList<string> relativePaths)
    {
        ArgumentNullException.ThrowIfNull(relativePaths);
        var byName = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var relative in relativePaths)
        {
            var name = Path.GetFileName(relative);
            if (!Ids.IsValidFileName(name))
            {
                throw new BuildFailureException($"artifact '{Printable.Of(relative)}' has a file name that cannot be published (letters, digits, '.', '_', '+', '-')");
            }

            if (!byName.TryAdd(name, relative))
            {
                throw new BuildFailureException($"artifact name '{name}' matched twice ('{byName[name]}' and '{relative}'): narrow the artifacts patterns");
            }
        }

        return [.. byName.Select(p => (p.Key, p.Value))];
    }

    /// <summary>Uploads each artifact by file name.</summary>
    public async Task<IReadOnlyList<FileEntry>> PublishArtifactsAsync(string sourceRoot, IReadOnlyList<(string Name, string RelativePath)> artifacts, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(artifacts);
        var entries = new List<FileEntry>(artifacts.Count);
        foreach (var (name, relative) in artifacts)
        {
            var path = Path.Combine(sourceRoot, relative);
            var entry = await ResultZipWriter.DescribeAsync(path, name, cancellationToken).ConfigureAwait(false);
            var link = await api.RequestUploadAsync(new UploadRequest(UploadKind.Artifact, name), cancellationToken).ConfigureAwait(false);
            await api.UploadFileAsync(link.Url, path, cancellationToken).ConfigureAwait(false);
            await log($"publishing: artifact {name} ({Size(entry.Size)}, sha256 {entry.Sha256})").ConfigureAwait(false);
            entries.Add(entry);
        }

        return entries;
    }

    /// <summary>Writes result.json and uploads it.</summary>
    public async Task PublishManifestAsync(BuildManifest manifest, CancellationToken cancellationToken = default)
    {
        var path = Path.Combine(scratchDirectory, "result.json");
        try
        {
            var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 4096, useAsync: true);
            await using (file.ConfigureAwait(false))
            {
                await System.Text.Json.JsonSerializer.SerializeAsync(file, manifest, AutoBuilderJson.Options, cancellationToken).ConfigureAwait(false);
            }

            var link = await api.RequestUploadAsync(new UploadRequest(UploadKind.Manifest), cancellationToken).ConfigureAwait(false);
            await api.UploadFileAsync(link.Url, path, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            File.Delete(path);
        }
    }

    public static string Size(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.#} KB"),
        _ => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024):0.#} MB"),
    };
}
