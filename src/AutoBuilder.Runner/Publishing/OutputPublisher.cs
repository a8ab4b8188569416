using System.Buffers;
using System.Security.Cryptography;
using AutoBuilder.Core;
using AutoBuilder.Core.Protocol;
using AutoBuilder.Runner.Api;

namespace AutoBuilder.Runner.Publishing;

/// <summary>What publishing collects from the build's tree, and under which bounds.</summary>
/// <param name="View">The build's tree and how a tool reaches it (its sandbox without a network, its user).</param>
public sealed record PublishRequest(BuildView View, IReadOnlyList<string> Outputs, IReadOnlyList<string> Artifacts)
{
    /// <summary>Artifacts are published only for a success, and result.zip then even when nothing matched.</summary>
    public required bool Succeeded { get; init; }
    /// <summary>Builds:MaxWorkspaceBytes: result.zip may not grow past it while it is written, nor the artifacts together.</summary>
    public required long MaxBytes { get; init; }
    public required TimeSpan Timeout { get; init; }
}

/// <summary>What was published; <see cref="Error"/> is why publishing failed the build (one line), if it did.</summary>
public sealed record PublishResult(IReadOnlyList<FileEntry> Files, IReadOnlyList<FileEntry> Artifacts, string? Error);

/// <summary>
/// Collects the build's outputs and artifacts as the build user (<see cref="OutputCollector"/>: one tool run, its
/// stream parsed as data), writes result.zip and the artifacts from that stream into the runner's own scratch folder
/// (never the build's), and uploads them, then result.json, through signed single-blob URLs.
/// </summary>
public sealed class OutputPublisher(RunnerApiClient api, string scratchDirectory, Func<string, ValueTask> log, TimeProvider? timeProvider = null)
{
    /// <summary>At most this many "skipped" lines per attempt; the rest are counted in one line.</summary>
    public const int MaxSkipLines = 20;

    /// <summary>Publishes result.zip (for a success, or when any output matched) and, for a success, the artifacts.</summary>
    public async Task<PublishResult> PublishAsync(PublishRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var zipPath = Path.Combine(scratchDirectory, "result.zip");
        var spool = Path.Combine(scratchDirectory, "artifacts");
        var skipped = new List<string>();
        var moreSkipped = 0;
        void Skip(string line)
        {
            if (skipped.Count < MaxSkipLines)
            {
                skipped.Add(line);
            }
            else
            {
                moreSkipped++;
            }
        }

        var collected = new Collected(request);
        try
        {
            string? toolErrors = null;
            string? error = null;
            IReadOnlyList<FileEntry> zipped = [];
            try
            {
                using var zip = new ResultZipWriter(zipPath, request.MaxBytes, $"result.zip grew past {Size(request.MaxBytes)} (Builds:MaxWorkspaceBytes)");
                var patterns = request.Succeeded ? [.. request.Outputs, .. request.Artifacts] : request.Outputs;
                if (patterns.Any(p => !p.StartsWith('!')))
                {
                    Directory.CreateDirectory(spool);
                    toolErrors = await OutputCollector.CollectAsync(
                        request.View, patterns, (listing, _) => Task.FromResult(collected.Choose(listing, Skip)),
                        (file, ct) => collected.WriteAsync(file, zip, spool, ct), Skip, request.MaxBytes, request.Timeout, timeProvider, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    collected.Choose([], Skip);
                }

                zipped = zip.Entries;
            }
            catch (BuildFailureException ex)
            {
                error = ex.Message;
            }
            catch (TimeoutException)
            {
                error = $"collecting the outputs did not finish within {Processes.BuildProcess.Describe(request.Timeout)}";
            }

            foreach (var line in skipped)
            {
                await log($"publishing: {line}").ConfigureAwait(false);
            }

            if (moreSkipped > 0)
            {
                await log(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"publishing: skipped {moreSkipped:N0} more entries (not named: at most {MaxSkipLines} are)")).ConfigureAwait(false);
            }

            if (!string.IsNullOrEmpty(toolErrors))
            {
                await log($"publishing: reading the outputs as the build user reported: {toolErrors}").ConfigureAwait(false);
            }

            if (error is not null)
            {
                return new PublishResult([], [], error);
            }

            IReadOnlyList<FileEntry> files = [];
            if (collected.WriteResult)
            {
                var link = await api.RequestUploadAsync(new UploadRequest(UploadKind.Result), cancellationToken).ConfigureAwait(false);
                await api.UploadFileAsync(link.Url, zipPath, cancellationToken).ConfigureAwait(false);
                files = zipped;
                await log(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"publishing: result.zip with {files.Count:N0} files, {Size(files.Sum(f => f.Size))}")).ConfigureAwait(false);
            }

            if (collected.NoArtifacts is { } none)
            {
                await log(none).ConfigureAwait(false);
            }

            var artifacts = new List<FileEntry>();
            foreach (var (entry, path) in collected.Spooled)
            {
                var link = await api.RequestUploadAsync(new UploadRequest(UploadKind.Artifact, entry.Path), cancellationToken).ConfigureAwait(false);
                await api.UploadFileAsync(link.Url, path, cancellationToken).ConfigureAwait(false);
                await log($"publishing: artifact {entry.Path} ({Size(entry.Size)}, sha256 {entry.Sha256})").ConfigureAwait(false);
                artifacts.Add(entry);
            }

            return new PublishResult(files, artifacts, collected.ArtifactError);
        }
        finally
        {
            File.Delete(zipPath);
            if (Directory.Exists(spool))
            {
                Directory.Delete(spool, recursive: true);
            }
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
                throw new BuildFailureException($"artifact name '{name}' matched twice ('{Printable.Of(byName[name])}' and '{Printable.Of(relative)}'): narrow the artifacts patterns");
            }
        }

        return [.. byName.Select(p => (p.Key, p.Value))];
    }

    /// <summary>One attempt's choice from the listing, and what its stream was written to.</summary>
    private sealed class Collected(PublishRequest request)
    {
        private HashSet<string> _outputs = [];
        private Dictionary<string, string> _artifactNames = [];
        private long _artifactBytes;

        public bool WriteResult { get; private set; }
        public string? ArtifactError { get; private set; }
        public string? NoArtifacts { get; private set; }
        public List<(FileEntry Entry, string Path)> Spooled { get; } = [];

        /// <summary>result.zip's files (or none when it is not written) and the artifacts, each named once, in one sorted list.</summary>
        public IReadOnlyList<string> Choose(IReadOnlyList<ListedEntry> listing, Action<string> onSkipped)
        {
            var outputs = OutputMatcher.Match(listing, request.Outputs);
            var artifacts = request.Succeeded ? OutputMatcher.Match(listing, request.Artifacts) : [];
            foreach (var entry in outputs.Concat(artifacts).Where(e => e.Kind != FileKind.Regular).DistinctBy(e => e.Path).OrderBy(e => e.Path, StringComparer.Ordinal))
            {
                onSkipped(OutputMatcher.SkipLine(entry.Path, entry.Kind));
            }

            var outputFiles = OutputMatcher.RegularFiles(outputs);
            WriteResult = request.Succeeded || outputFiles.Count > 0;
            _outputs = WriteResult ? outputFiles.ToHashSet(StringComparer.Ordinal) : [];
            if (request.Succeeded)
            {
                var artifactFiles = OutputMatcher.RegularFiles(artifacts);
                try
                {
                    _artifactNames = NameArtifacts(artifactFiles).ToDictionary(a => a.RelativePath, a => a.Name, StringComparer.Ordinal);
                }
                catch (BuildFailureException ex)
                {
                    ArtifactError = ex.Message;
                }

                if (artifactFiles.Count == 0 && request.Artifacts.Count > 0)
                {
                    NoArtifacts = $"publishing: no artifacts matched {string.Join(", ", request.Artifacts.Select(p => Printable.Of(p)))}";
                }
            }

            return [.. _outputs.Union(_artifactNames.Keys).Order(StringComparer.Ordinal)];
        }

        /// <summary>Writes one collected file into result.zip, its artifact's spool file, or both in one pass.</summary>
        public async Task WriteAsync(PackedFile file, ResultZipWriter zip, string spool, CancellationToken cancellationToken)
        {
            FileStream? copy = null;
            if (_artifactNames.TryGetValue(file.Path, out var name))
            {
                _artifactBytes += file.Length;
                if (_artifactBytes > request.MaxBytes)
                {
                    throw new BuildFailureException($"the artifacts grew past {Size(request.MaxBytes)} (Builds:MaxWorkspaceBytes)");
                }

                copy = new FileStream(Path.Combine(spool, name), FileMode.CreateNew, FileAccess.Write, FileShare.None, 128 * 1024);
            }

            using (copy)
            {
                FileEntry entry;
                if (_outputs.Contains(file.Path))
                {
                    entry = await zip.AddAsync(file, copy, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    var buffer = ArrayPool<byte>.Shared.Rent(128 * 1024);
                    using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                    try
                    {
                        entry = await ResultZipWriter.CopyHashingAsync(file, copy!, null, buffer, hash, cancellationToken).ConfigureAwait(false);
                    }
                    finally
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                    }
                }

                if (name is not null)
                {
                    Spooled.Add((entry with { Path = name }, Path.Combine(spool, name)));
                }
            }
        }
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
