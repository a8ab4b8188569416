using System.Formats.Tar;
using AutoBuilder.Core;
using AutoBuilder.Runner.Processes;

namespace AutoBuilder.Runner.Caching;

/// <summary>Who reads the build's tree for a save: the build's sandbox without a network (null: none) and the build user (null: the runner's).</summary>
public sealed record BuildUserView(IReadOnlyList<string>? Sandbox, BuildUser? RunAs)
{
    /// <summary>The runner's own user and view: a runner that is neither root nor sandboxed (tests, a developer's machine).</summary>
    public static BuildUserView Runner { get; } = new(null, null);
}

/// <summary>One folder of a cache plan: <see cref="Relative"/> beneath <see cref="Root"/> (HOME or the cache root), carried under <see cref="Name"/>.</summary>
public sealed record CachePath(string Root, string Relative, string Name);

/// <summary>How one cache path went into the archive.</summary>
/// <param name="Packed">False when the path is not there, or was skipped (<paramref name="Skipped"/> says why).</param>
/// <param name="Refused">Entries left out because an archive cannot carry their names; <paramref name="FirstRefused"/> is one of them.</param>
public sealed record CachePathResult(bool Packed, string? Skipped, int Refused, string? FirstRefused);

/// <summary>The cache's content grew past Caches:MaxArchiveBytes, counted by apparent size.</summary>
public sealed class CacheContentTooLargeException() : IOException("the cache holds more than Caches:MaxArchiveBytes");

/// <summary>
/// Packs one cache path the way the trust boundary asks (docs/SECURITY.md): the build's tree is read by <c>tar</c> run
/// as the build user with the build's own view (<see cref="BuildUserTool"/>), and its output is parsed here as data. Each
/// component of the path is listed first without recursion, so a link anywhere in it (<c>ln -s / $HOME/x</c> for
/// <c>paths: [x/etc]</c>) shows in the stream as a link entry and the path is skipped: nothing beneath a link is ever
/// carried. Only folders and regular files are carried (what the restore takes), with their apparent sizes counted.
/// </summary>
public static class CachePathPacker
{
    private const string Tar = "/usr/bin/tar";

    /// <summary>Packs <paramref name="path"/> into <paramref name="archive"/>; <paramref name="exclude"/> gets each entry's path relative to the cache path.</summary>
    /// <exception cref="CacheContentTooLargeException">The archive's files would hold more than <paramref name="maxBytes"/>.</exception>
    /// <exception cref="IOException">tar failed while reading a path that is there.</exception>
    public static async Task<CachePathResult> PackAsync(
        CachePath path, BuildUserView view, CacheArchive.Writer archive, long maxBytes, Func<string, bool>? exclude, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(view);
        ArgumentNullException.ThrowIfNull(archive);
        var parts = path.Relative.Split('/');
        if (parts.Any(p => p is "" or "." or "..") || !CacheArchive.CanCarry(path.Name))
        {
            return new CachePathResult(false, "it is not a plain relative path", 0, null);
        }

        // The components before the last, each alone (--no-recursion), then the path itself with all beneath it.
        var command = new List<string> { Tar, "--create", "--file=-", "--format=pax", "--hard-dereference", "-C", path.Root, "--no-recursion" };
        for (var i = 1; i < parts.Length; i++)
        {
            command.Add(string.Join('/', parts[..i]));
        }

        command.AddRange(["--recursion", path.Relative]);
        var state = new ReadState(path, parts, archive, maxBytes, exclude);
        var result = await BuildUserTool.RunAsync(
            new BuildUserToolRequest { Command = command, WorkingDirectory = path.Root, Sandbox = view.Sandbox, RunAs = view.RunAs, Timeout = timeout },
            state.ReadAsync, time, cancellationToken).ConfigureAwait(false);
        if (state.Skipped is not null)
        {
            return new CachePathResult(false, state.Skipped, 0, null);
        }

        if (!state.Found)
        {
            return new CachePathResult(false, null, 0, null); // not there (tar said so on stderr): nothing to save
        }

        if (result.ExitCode != 0)
        {
            throw new IOException($"tar could not read {Printable.Of(path.Relative)}: {result.Errors}");
        }

        return new CachePathResult(true, null, state.Refused, state.FirstRefused);
    }

    /// <summary>What the tar stream showed so far, checked entry by entry.</summary>
    private sealed class ReadState(CachePath path, string[] parts, CacheArchive.Writer archive, long maxBytes, Func<string, bool>? exclude)
    {
        private readonly List<string> _excludedFolders = [];
        private int _prefixes;

        public bool Found { get; private set; }
        public string? Skipped { get; private set; }
        public int Refused { get; private set; }
        public string? FirstRefused { get; private set; }

        public async Task ReadAsync(Stream stdout, CancellationToken cancellationToken)
        {
            var reader = new TarReader(stdout, leaveOpen: true);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false) is { } entry)
                {
                    if (!await TakeAsync(entry, cancellationToken).ConfigureAwait(false))
                    {
                        return; // skipped: the tool is killed, nothing more of it is read
                    }
                }
            }
        }

        /// <summary>False when the path is skipped and reading stops.</summary>
        private async Task<bool> TakeAsync(TarEntry entry, CancellationToken cancellationToken)
        {
            var name = entry.Name.TrimEnd('/');
            var isFolder = entry.EntryType == TarEntryType.Directory;
            if (!Found)
            {
                // tar lists the components in order: each must be a folder, the link itself is what it stores otherwise.
                var expected = string.Join('/', parts[..(_prefixes + 1)]);
                if (name != expected)
                {
                    throw new IOException($"tar wrote '{Printable.Of(entry.Name)}' where '{Printable.Of(expected)}' was due");
                }

                if (!isFolder)
                {
                    Skipped = entry.EntryType is TarEntryType.SymbolicLink
                        ? $"'{Printable.Of(expected)}' is a link, and a cache path is never followed through one"
                        : $"'{Printable.Of(expected)}' is not a folder";
                    return false;
                }

                if (++_prefixes < parts.Length)
                {
                    return true;
                }

                Found = true;
                await archive.AddFolderAsync(path.Name, cancellationToken).ConfigureAwait(false);
                return true;
            }

            if (!name.StartsWith(path.Relative + "/", StringComparison.Ordinal))
            {
                throw new IOException($"tar wrote '{Printable.Of(entry.Name)}', outside {Printable.Of(path.Relative)}");
            }

            var relative = name[(path.Relative.Length + 1)..];
            if (_excludedFolders.Exists(f => relative.StartsWith(f, StringComparison.Ordinal)))
            {
                return true;
            }

            if (exclude?.Invoke(relative) == true)
            {
                if (isFolder)
                {
                    _excludedFolders.Add(relative + "/");
                }

                return true;
            }

            var carried = $"{path.Name}/{relative}";
            if (!CacheArchive.CanCarry(carried))
            {
                // Its folder's children carry the same name part: count the folder once, leave out all beneath it.
                Refused++;
                FirstRefused ??= relative;
                if (isFolder)
                {
                    _excludedFolders.Add(relative + "/");
                }

                return true;
            }

            switch (entry.EntryType)
            {
                case TarEntryType.Directory:
                    await archive.AddFolderAsync(carried, cancellationToken).ConfigureAwait(false);
                    break;
                case TarEntryType.RegularFile or TarEntryType.V7RegularFile:
                    // The header's size is the apparent one: a sparse file counts whole, as a restore writes it whole.
                    if (entry.Length > maxBytes - archive.TotalBytes)
                    {
                        throw new CacheContentTooLargeException();
                    }

                    await archive.AddFileAsync(carried, entry.Mode, entry.ModificationTime, entry.DataStream, entry.Length, cancellationToken).ConfigureAwait(false);
                    break;
                default:
                    // Links, FIFOs, devices: a restore takes none of them, so none is carried (and no link is followed).
                    break;
            }

            return true;
        }
    }
}
