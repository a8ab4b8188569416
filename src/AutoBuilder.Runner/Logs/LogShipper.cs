using System.Buffers;
using System.Globalization;
using System.Text;
using System.Threading.Channels;
using AutoBuilder.Core;
using AutoBuilder.Runner.Publishing;

namespace AutoBuilder.Runner.Logs;

/// <summary>Where log batches go: one append per call, in order.</summary>
public delegate Task LogAppender(ReadOnlyMemory<byte> batch, CancellationToken cancellationToken);

/// <summary>
/// Ships the build log live: bytes are batched and appended when 64 KiB are pending or ~200 ms
/// after the first pending byte, one append at a time, in order. Memory stays bounded: writers
/// wait when too much is pending. Secrets (API keys, build tokens, URL signatures) are masked line by
/// line with <see cref="SecretRedactor"/> before anything is queued: a partial line waits for its end
/// (a newline or carriage return), for <see cref="MaxLineBytes"/>, or for <see cref="CompleteAsync"/>.
/// If an append fails for good (the appender retries transient
/// failures itself), <see cref="Failure"/> is set, <see cref="Failed"/> fires, and later bytes are dropped.
/// <para>
/// The build's output is limited (Builds:MaxLogBytes): past the limit it is dropped, with one marker line when that
/// starts and the count dropped at the end. The runner's own lines are not counted, so they are always written.
/// A line of the build's output that contains <see cref="OwnLinePrefix"/> (any case) gets <see cref="EscapePrefix"/>
/// in front, so no line the build prints starts like one of AutoBuilder's.
/// </para>
/// </summary>
public sealed class LogShipper : IAsyncDisposable
{
    public const int MaxBatchBytes = 64 * 1024;
    public static readonly TimeSpan MaxBatchDelay = TimeSpan.FromMilliseconds(200);

    /// <summary>The longest line held back for redaction; a longer one is redacted and shipped in pieces.</summary>
    public const int MaxLineBytes = 16 * 1024;

    private const int MaxChunkBytes = 16 * 1024;
    private const int MaxPendingChunks = 64; // ≤ 1 MiB held in memory.
    /// <summary>How AutoBuilder's own lines start; only they do.</summary>
    public const string OwnLinePrefix = "[autobuilder]";

    /// <summary>Put in front of a line of the build's output that contains <see cref="OwnLinePrefix"/>.</summary>
    public const string EscapePrefix = "[build] ";

    private static readonly byte[] Prefix = Encoding.UTF8.GetBytes(OwnLinePrefix + " ");
    private static readonly byte[] Escape = Encoding.UTF8.GetBytes(EscapePrefix);

    private readonly Channel<byte[]> _chunks = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(MaxPendingChunks)
    {
        SingleReader = true,
        FullMode = BoundedChannelFullMode.Wait,
    });

    private readonly LogAppender _append;
    private readonly IReadOnlyList<string> _secrets;
    private readonly TimeProvider _timeProvider;
    private readonly CancellationTokenSource _failed = new();
    private readonly CancellationTokenSource _abort = new();
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly Task _pump;
    private readonly byte[] _line = new byte[MaxLineBytes];
    private int _lineLength;
    private readonly long _maxOutputBytes;
    private long _outputBytes;

    /// <param name="append">Where batches go.</param>
    /// <param name="timeProvider">The clock of the batching delay.</param>
    /// <param name="maxOutputBytes">The most of the build's output kept (Builds:MaxLogBytes); the runner's own lines do not count.</param>
    /// <param name="secrets">Values masked wherever they appear (the operator's registry tokens and passwords).</param>
    public LogShipper(LogAppender append, TimeProvider? timeProvider = null, long maxOutputBytes = long.MaxValue, IReadOnlyList<string>? secrets = null)
    {
        _secrets = secrets ?? [];
        _append = append ?? throw new ArgumentNullException(nameof(append));
        ArgumentOutOfRangeException.ThrowIfNegative(maxOutputBytes);
        _timeProvider = timeProvider ?? TimeProvider.System;
        _maxOutputBytes = maxOutputBytes;
        _pump = Task.Run(PumpAsync);
    }

    /// <summary>Why the log could not be written, once it could not.</summary>
    public Exception? Failure { get; private set; }

    /// <summary>Cancelled when the log can no longer be written.</summary>
    public CancellationToken Failed => _failed.Token;

    /// <summary>Total bytes of the build's output accepted, kept or dropped.</summary>
    public long BytesWritten { get; private set; }

    /// <summary>Bytes of the build's output dropped past the limit.</summary>
    public long BytesDropped { get; private set; }

    private bool LimitReached => BytesDropped > 0;

    /// <summary>Queues the build's raw output (copied; the caller may reuse its buffer), redacted and escaped line by line.</summary>
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken = default)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (LimitReached)
            {
                // Cheap on purpose: a flooding build's output is only counted.
                BytesWritten += bytes.Length;
                BytesDropped += bytes.Length;
                return;
            }

            while (!bytes.IsEmpty)
            {
                var end = bytes.Span.IndexOfAny((byte)'\n', (byte)'\r');
                var take = Math.Min(end >= 0 ? end + 1 : bytes.Length, MaxLineBytes - _lineLength);
                bytes[..take].CopyTo(_line.AsMemory(_lineLength));
                _lineLength += take;
                bytes = bytes[take..];
                if (_lineLength == MaxLineBytes || _line[_lineLength - 1] is (byte)'\n' or (byte)'\r')
                {
                    await FlushLineAsync(cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (ChannelClosedException)
        {
            // Completed: late bytes have nowhere to go.
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Redacts, escapes and queues the held line of the build's output, within the limit. Call under the write lock.</summary>
    private async ValueTask FlushLineAsync(CancellationToken cancellationToken)
    {
        ReadOnlyMemory<byte> line = _line.AsMemory(0, _lineLength);
        var length = _lineLength;
        BytesWritten += length;
        _lineLength = 0;
        if (LimitReached)
        {
            BytesDropped += length;
            return;
        }

        var text = Encoding.UTF8.GetString(line.Span);
        var redacted = MaskSecrets(SecretRedactor.Redact(text));
        if (!ReferenceEquals(text, redacted))
        {
            // Re-encoded only when a secret was masked, so other bytes (even invalid UTF-8) pass unchanged.
            line = Encoding.UTF8.GetBytes(redacted);
        }

        if (redacted.Contains(OwnLinePrefix, StringComparison.OrdinalIgnoreCase))
        {
            // Anywhere in the line, not just at its start: escape sequences or a carriage return could show it first.
            line = (byte[])[.. Escape, .. line.Span];
        }

        if (_outputBytes + line.Length > _maxOutputBytes)
        {
            BytesDropped += length;
            await QueueAsync(OwnLine($"the log reached Builds:MaxLogBytes ({OutputPublisher.Size(_maxOutputBytes)}): the rest of the build's output is dropped, the build goes on"), cancellationToken).ConfigureAwait(false);
            return;
        }

        _outputBytes += line.Length;
        await QueueAsync(line, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Queues bytes as they are, in chunks. Call under the write lock.</summary>
    private async ValueTask QueueAsync(ReadOnlyMemory<byte> line, CancellationToken cancellationToken)
    {
        while (!line.IsEmpty && Failure is null)
        {
            var chunk = line[..Math.Min(line.Length, MaxChunkBytes)];
            line = line[chunk.Length..];
            await _chunks.Writer.WriteAsync(chunk.ToArray(), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Appends one of the runner's own lines, prefixed "[autobuilder] "; never counted against the limit. Its text is
    /// made <see cref="OwnLineText"/> here, so whatever a caller puts in it (a command from autobuilder.yml, a file
    /// name, an error) stays on this one line.
    /// </summary>
    public async ValueTask WriteLineAsync(string line, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(line);
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_lineLength > 0)
            {
                // A partial line of the command's output is redacted on its own, not run together with this one, and
                // ended, so that this line (a step's section line, say) starts a line of the log. (A held line is
                // always shorter than MaxLineBytes: a full one is flushed at once.)
                _line[_lineLength++] = (byte)'\n';
                await FlushLineAsync(cancellationToken).ConfigureAwait(false);
            }

            await QueueAsync(OwnLine(line), cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            // Completed: late lines have nowhere to go.
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>The line with every configured secret masked; the same instance when there is none.</summary>
    private string MaskSecrets(string line)
    {
        foreach (var secret in _secrets)
        {
            if (line.Contains(secret, StringComparison.Ordinal))
            {
                line = line.Replace(secret, SecretRedactor.Mask, StringComparison.Ordinal);
            }
        }

        return line;
    }

    /// <summary>
    /// The text of one of AutoBuilder's own lines: secrets masked, then CR, LF, ESC and every other control shown as an
    /// escape (<see cref="Printable"/>), so no text from autobuilder.yml, the source or the build can start a line
    /// (or move the cursor back over this one); at most <see cref="MaxLineBytes"/> characters.
    /// </summary>
    public static string OwnLineText(string line) => Printable.Of(SecretRedactor.Redact(line), MaxLineBytes);

    private static byte[] OwnLine(string line)
    {
        line = OwnLineText(line);
        var bytes = new byte[Prefix.Length + Encoding.UTF8.GetByteCount(line) + 1];
        Prefix.CopyTo(bytes, 0);
        Encoding.UTF8.GetBytes(line, bytes.AsSpan(Prefix.Length));
        bytes[^1] = (byte)'\n';
        return bytes;
    }

    /// <summary>Ships everything pending and stops. Throws if the log could not be written.</summary>
    /// <exception cref="IOException">The log storage failed.</exception>
    public async Task CompleteAsync()
    {
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            try
            {
                if (_lineLength > 0)
                {
                    await FlushLineAsync(CancellationToken.None).ConfigureAwait(false);
                }

                if (LimitReached)
                {
                    await QueueAsync(OwnLine(string.Create(CultureInfo.InvariantCulture,
                        $"{BytesDropped:N0} bytes of the build's output were dropped past Builds:MaxLogBytes ({OutputPublisher.Size(_maxOutputBytes)})")), CancellationToken.None).ConfigureAwait(false);
                }
            }
            catch (ChannelClosedException)
            {
                // Disposed already.
            }

            _chunks.Writer.TryComplete();
        }
        finally
        {
            _writeLock.Release();
        }

        await _pump.ConfigureAwait(false);
        if (Failure is not null)
        {
            throw new IOException($"the build log could not be written to storage: {Failure.Message}", Failure);
        }
    }

    /// <summary>Stops at once: pending bytes not yet shipped are dropped (call <see cref="CompleteAsync"/> first to keep them).</summary>
    public async ValueTask DisposeAsync()
    {
        _chunks.Writer.TryComplete();
        // A runner that is being stopped must not wait out a hanging storage call.
        await _abort.CancelAsync().ConfigureAwait(false);
        await _pump.ConfigureAwait(false);
        _abort.Dispose();
        _failed.Dispose();
        _writeLock.Dispose();
    }

    private async Task PumpAsync()
    {
        var reader = _chunks.Reader;
        var batch = ArrayPool<byte>.Shared.Rent(MaxBatchBytes + MaxChunkBytes);
        try
        {
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                var length = 0;
                var deadline = _timeProvider.GetTimestamp();
                while (length < MaxBatchBytes)
                {
                    if (reader.TryRead(out var chunk))
                    {
                        chunk.CopyTo(batch, length);
                        length += chunk.Length;
                        continue;
                    }

                    var remaining = MaxBatchDelay - _timeProvider.GetElapsedTime(deadline);
                    if (remaining <= TimeSpan.Zero || !await WaitForMoreAsync(reader, remaining).ConfigureAwait(false))
                    {
                        break;
                    }
                }

                await ShipAsync(batch.AsMemory(0, length)).ConfigureAwait(false);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(batch);
        }
    }

    /// <summary>True when more data arrived within <paramref name="wait"/>; false on timeout or completion.</summary>
    private async Task<bool> WaitForMoreAsync(ChannelReader<byte[]> reader, TimeSpan wait)
    {
        using var timer = new CancellationTokenSource(wait, _timeProvider);
        try
        {
            return await reader.WaitToReadAsync(timer.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private async Task ShipAsync(ReadOnlyMemory<byte> batch)
    {
        if (Failure is not null || batch.IsEmpty)
        {
            return;
        }

        try
        {
            await _append(batch, _abort.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Failure = ex;
            await _failed.CancelAsync().ConfigureAwait(false);
        }
    }
}
