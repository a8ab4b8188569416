using System.Formats.Tar;
using System.Globalization;
using System.Text;
using AutoBuilder.Core;
using AutoBuilder.Runner.Processes;

namespace AutoBuilder.Runner.Publishing;

/// <summary>
/// The build's tree as the build sees it: its source root, and how a tool reaches it — the build's sandbox (without a
/// network) and its user. Null for both runs tools as the runner's own user, unsandboxed (a runner that is neither root
/// nor sandboxed, and tools or tests on trees the caller owns).
/// </summary>
public sealed record BuildView(string Root, IReadOnlyList<string>? Sandbox = null, BuildUser? RunAs = null);

/// <summary>A regular file streamed out of the build's tree: its path as asked for, mode, size and content (read once).</summary>
public sealed record PackedFile(string Path, UnixFileMode Mode, long Length, Stream Content);

/// <summary>
/// Collects files from the build's tree across the trust boundary (docs/SECURITY.md): one tool run as the build user,
/// with the build's view, lists the tree (find -P: links are never followed), then packs the files the runner chose
/// from that listing (tar --no-recursion, names from stdin). The runner reads both as data and never opens a path of
/// the build's itself. Every tar entry must be a regular file whose name was asked for, in the order asked for.
/// </summary>
public static class OutputCollector
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(10);

    /// <summary>A listing holds at most this many entries: a build that made more fails its publishing (one line) rather than the runner's memory.</summary>
    public const int MaxListedEntries = 1_000_000;

    private const int MaxRecordBytes = 64 * 1024;
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// The tool: find's listing (records "type size path\0", then an empty record), then tar of the names the runner
    /// writes back. "$@" is find's expression; no name of the build's is ever part of the command line.
    /// </summary>
    private const string Script =
        "/usr/bin/find -P . -mindepth 1 -printf '%y %s %P\\0' \"$@\"; printf '\\000'; " +
        "exec /usr/bin/tar --create --file=- --format=gnu --no-recursion --hard-dereference --numeric-owner --null --verbatim-files-from --files-from=-";

    /// <summary>Lists what <paramref name="patterns"/> can match, packing nothing.</summary>
    public static async Task<IReadOnlyList<ListedEntry>> ListAsync(BuildView view, IReadOnlyList<string> patterns, TimeSpan timeout, TimeProvider? timeProvider = null, CancellationToken cancellationToken = default)
    {
        IReadOnlyList<ListedEntry> listed = [];
        await CollectAsync(view, patterns, (listing, _) =>
        {
            listed = listing;
            return Task.FromResult<IReadOnlyList<string>>([]);
        }, (_, _) => Task.CompletedTask, _ => { }, long.MaxValue, timeout, timeProvider, cancellationToken).ConfigureAwait(false);
        return listed;
    }

    /// <summary>
    /// Lists the tree under <paramref name="patterns"/>, asks <paramref name="choose"/> which of the listed regular
    /// files to pack, and hands each to <paramref name="onFile"/> in that order. A chosen file that is no regular file
    /// any more, or that the build user cannot read, is named through <paramref name="onSkipped"/>.
    /// </summary>
    /// <returns>What the tool wrote to stderr (escaped, bounded), empty when nothing.</returns>
    /// <exception cref="BuildFailureException">The tool failed, a file is larger than <paramref name="maxFileBytes"/>, or the stream is not what was asked for.</exception>
    public static async Task<string> CollectAsync(
        BuildView view,
        IReadOnlyList<string> patterns,
        Func<IReadOnlyList<ListedEntry>, CancellationToken, Task<IReadOnlyList<string>>> choose,
        Func<PackedFile, CancellationToken, Task> onFile,
        Action<string> onSkipped,
        long maxFileBytes,
        TimeSpan timeout,
        TimeProvider? timeProvider = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(view);
        ArgumentNullException.ThrowIfNull(choose);
        ArgumentNullException.ThrowIfNull(onFile);
        ArgumentNullException.ThrowIfNull(onSkipped);
        var listed = false;
        var request = new BuildUserToolRequest
        {
            Command = ["/bin/sh", "-c", Script, "sh", .. OutputMatcher.FindExpression(patterns)],
            WorkingDirectory = view.Root,
            Sandbox = view.Sandbox,
            RunAs = view.RunAs,
            Timeout = timeout,
        };
        var result = await BuildUserTool.ConverseAsync(request, async (stdin, stdout, ct) =>
        {
            var (listing, rest) = await ReadListingAsync(stdout, onSkipped, ct).ConfigureAwait(false);
            if (listing is null)
            {
                await stdin.DisposeAsync().ConfigureAwait(false);
                return; // the tool failed before its listing ended: its errors say why.
            }

            listed = true;
            var names = await choose(listing, ct).ConfigureAwait(false);
            var regular = listing.Where(e => e.Kind == FileKind.Regular).Select(e => e.Path).ToHashSet(StringComparer.Ordinal);
            var order = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var name in names)
            {
                if (!regular.Contains(name) || !order.TryAdd(name, order.Count))
                {
                    throw new ArgumentException($"'{Printable.Of(name)}' is not a listed regular file, or is chosen twice.", nameof(choose));
                }
            }

            var writing = WriteNamesAsync(stdin, names, ct);
            try
            {
                await ReadPackAsync(new PrefixedStream(rest, stdout), names, order, onFile, onSkipped, maxFileBytes, ct).ConfigureAwait(false);
            }
            catch
            {
                // tar, no longer read, may never take the rest of the names: the write ends when the tool is killed.
                _ = writing.ContinueWith(t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
                throw;
            }

            await IgnoreBrokenPipeAsync(writing).ConfigureAwait(false);
        }, timeProvider, cancellationToken).ConfigureAwait(false);

        if (!listed)
        {
            throw new BuildFailureException($"the outputs could not be listed as the build user: {(result.Errors.Length > 0 ? result.Errors : string.Create(CultureInfo.InvariantCulture, $"exit code {result.ExitCode}"))}");
        }

        return result.Errors;
    }

    /// <summary>find's records up to the empty one, and the bytes read past it (the start of the tar); null when the stream ended first.</summary>
    private static async Task<(IReadOnlyList<ListedEntry>? Listing, ReadOnlyMemory<byte> Remainder)> ReadListingAsync(Stream stdout, Action<string> onSkipped, CancellationToken cancellationToken)
    {
        var listing = new List<ListedEntry>();
        var record = new MemoryStream();
        var buffer = new byte[64 * 1024];
        int read;
        while ((read = await stdout.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            var span = buffer.AsSpan(0, read);
            var start = 0;
            for (var end = span[start..].IndexOf((byte)0); end >= 0; end = span[start..].IndexOf((byte)0))
            {
                record.Write(span.Slice(start, end));
                start += end + 1;
                if (record.Length == 0)
                {
                    return (listing, buffer.AsMemory(start, read - start));
                }

                if (Parse(record.GetBuffer().AsSpan(0, (int)record.Length), onSkipped) is { } entry)
                {
                    if (listing.Count == MaxListedEntries)
                    {
                        throw new BuildFailureException(string.Create(CultureInfo.InvariantCulture, $"the outputs' folders hold more than {MaxListedEntries:N0} entries"));
                    }

                    listing.Add(entry);
                }

                record.SetLength(0);
            }

            record.Write(span[start..]);
            if (record.Length > MaxRecordBytes)
            {
                throw new BuildFailureException("the outputs' listing held a name longer than a path may be");
            }
        }

        return (null, default);
    }

    /// <summary>One "type size path" record; null (and named) when its path is not UTF-8.</summary>
    private static ListedEntry? Parse(ReadOnlySpan<byte> record, Action<string> onSkipped)
    {
        var firstSpace = record.IndexOf((byte)' ');
        var secondSpace = firstSpace < 0 ? -1 : record[(firstSpace + 1)..].IndexOf((byte)' ');
        if (firstSpace != 1 || secondSpace < 1
            || !long.TryParse(record.Slice(2, secondSpace), NumberStyles.None, CultureInfo.InvariantCulture, out var size))
        {
            throw new BuildFailureException("the outputs' listing is not in the expected form");
        }

        var pathBytes = record[(firstSpace + secondSpace + 2)..];
        string path;
        try
        {
            path = StrictUtf8.GetString(pathBytes);
        }
        catch (DecoderFallbackException)
        {
            onSkipped($"skipped '{Printable.Of(Encoding.UTF8.GetString(pathBytes))}': its name is not UTF-8");
            return null;
        }

        var kind = (char)record[0] switch
        {
            'f' => FileKind.Regular,
            'd' => FileKind.Directory,
            'l' => FileKind.SymbolicLink,
            'p' => FileKind.Fifo,
            's' => FileKind.Socket,
            'c' => FileKind.CharacterDevice,
            'b' => FileKind.BlockDevice,
            _ => FileKind.Other,
        };
        return new ListedEntry(path, kind, size);
    }

    private static async Task WriteNamesAsync(Stream stdin, IReadOnlyList<string> names, CancellationToken cancellationToken)
    {
        await using (stdin.ConfigureAwait(false))
        {
            var buffer = new MemoryStream();
            foreach (var name in names)
            {
                buffer.Write(Encoding.UTF8.GetBytes(name));
                buffer.WriteByte(0);
                if (buffer.Length >= 16 * 1024)
                {
                    await stdin.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), cancellationToken).ConfigureAwait(false);
                    buffer.SetLength(0);
                }
            }

            await stdin.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>tar's archive of <paramref name="names"/>, entry by entry; tar leaves out what it cannot read, in place.</summary>
    private static async Task ReadPackAsync(
        Stream archive,
        IReadOnlyList<string> names,
        Dictionary<string, int> order,
        Func<PackedFile, CancellationToken, Task> onFile,
        Action<string> onSkipped,
        long maxFileBytes,
        CancellationToken cancellationToken)
    {
        var next = 0;
        try
        {
            await using var reader = new TarReader(archive, leaveOpen: true);
            while (await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false) is { } entry)
            {
                if (!order.TryGetValue(entry.Name, out var index) || index < next)
                {
                    throw new BuildFailureException($"the outputs' archive held '{Printable.Of(entry.Name)}', which was not asked for");
                }

                for (; next < index; next++)
                {
                    onSkipped($"skipped '{Printable.Of(names[next])}': the build user cannot read it");
                }

                next++;
                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile))
                {
                    onSkipped($"skipped '{Printable.Of(entry.Name)}': it changed while it was published (now {Describe(entry.EntryType)}); only regular files are published");
                    continue;
                }

                if (entry.Length > maxFileBytes)
                {
                    throw new BuildFailureException($"output '{Printable.Of(entry.Name)}' ({OutputPublisher.Size(entry.Length)}) is larger than {OutputPublisher.Size(maxFileBytes)} (Builds:MaxWorkspaceBytes)");
                }

                await onFile(new PackedFile(entry.Name, entry.Mode, entry.Length, entry.DataStream ?? Stream.Null), cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException or FormatException)
        {
            throw new BuildFailureException($"the outputs' archive could not be read: {Printable.Of(ex.Message)}");
        }

        for (; next < names.Count; next++)
        {
            onSkipped($"skipped '{Printable.Of(names[next])}': the build user cannot read it");
        }
    }

    private static string Describe(TarEntryType type) => type switch
    {
        TarEntryType.SymbolicLink => "a symbolic link",
        TarEntryType.Directory => "a folder",
        TarEntryType.HardLink => "a hard link",
        TarEntryType.Fifo => "a FIFO",
        TarEntryType.CharacterDevice or TarEntryType.BlockDevice => "a device",
        _ => "not a regular file",
    };

    private static async Task IgnoreBrokenPipeAsync(Task writing)
    {
        try
        {
            await writing.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // tar stopped reading (it ended or was killed): what it did shows in the archive and its errors.
        }
    }

    /// <summary>The bytes already read past the listing, then the rest of the tool's stdout.</summary>
    private sealed class PrefixedStream(ReadOnlyMemory<byte> prefix, Stream inner) : ReadOnlyStream
    {
        private ReadOnlyMemory<byte> _prefix = prefix;

        public override int Read(Span<byte> buffer)
        {
            if (_prefix.IsEmpty)
            {
                return inner.Read(buffer);
            }

            var n = Math.Min(buffer.Length, _prefix.Length);
            _prefix.Span[..n].CopyTo(buffer);
            _prefix = _prefix[n..];
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_prefix.IsEmpty)
            {
                return inner.ReadAsync(buffer, cancellationToken);
            }

            var n = Math.Min(buffer.Length, _prefix.Length);
            _prefix.Span[..n].CopyTo(buffer.Span);
            _prefix = _prefix[n..];
            return ValueTask.FromResult(n);
        }
    }
}
