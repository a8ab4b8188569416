namespace AutoBuilder.Cli.Client;

/// <summary>
/// A write-only stream that makes a build log safe to print on a terminal, byte by byte as it streams: escape sequences
/// (CSI such as colours and cursor moves, OSC such as window titles and links, DCS/SOS/PM/APC strings, and the short
/// ESC forms) are dropped; other C0 controls but tab and line feed, DEL, and C1 controls (U+0080–U+009F) are shown as
/// <c>\u00XX</c>; a carriage return ends the line (CR LF is one line end), so no text can overwrite what came before.
/// Everything else, invalid UTF-8 included, passes as it is. A string sequence left open ends at the next line end,
/// so a build cannot hide the lines after it.
/// </summary>
public sealed class TerminalSafeStream : Stream
{
    private const int SliceBytes = 8 * 1024;
    private const byte Esc = 0x1B;
    private static ReadOnlySpan<byte> Hex => "0123456789ABCDEF"u8;

    /// <summary>Each input byte writes at most 6 (<c>\u00XX</c>), plus a held 0xC2.</summary>
    private readonly byte[] _output = new byte[(SliceBytes * 6) + 1];
    private readonly Stream _inner;
    private readonly bool _leaveOpen;
    private State _state;
    private bool _afterCarriageReturn;

    public TerminalSafeStream(Stream inner, bool leaveOpen = false)
    {
        _inner = inner ?? throw new ArgumentNullException(nameof(inner));
        _leaveOpen = leaveOpen;
    }

    private enum State
    {
        Text,
        /// <summary>After 0xC2, the first byte of U+0080–U+00BF: a C1 control or a printable character.</summary>
        AfterC2,
        /// <summary>After ESC.</summary>
        Escape,
        /// <summary>After ESC and intermediate bytes (0x20–0x2F), until the final byte.</summary>
        EscapeIntermediate,
        /// <summary>After ESC [: parameter and intermediate bytes until the final byte (0x40–0x7E).</summary>
        ControlSequence,
        /// <summary>After ESC ], P, X, ^ or _: the string until BEL or ESC \.</summary>
        String,
        /// <summary>ESC inside a string: \ ends it, anything else starts a new escape sequence.</summary>
        StringEscape,
    }

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            var slice = buffer[..Math.Min(buffer.Length, SliceBytes)];
            buffer = buffer[slice.Length..];
            _inner.Write(_output, 0, Filter(slice));
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (!buffer.IsEmpty)
        {
            var slice = buffer[..Math.Min(buffer.Length, SliceBytes)];
            buffer = buffer[slice.Length..];
            await _inner.WriteAsync(_output.AsMemory(0, Filter(slice.Span)), cancellationToken).ConfigureAwait(false);
        }
    }

    public override void Flush() => _inner.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => _inner.FlushAsync(cancellationToken);

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            if (_state == State.AfterC2)
            {
                // The log ended after a lone 0xC2: it passes, like any other invalid UTF-8.
                _state = State.Text;
                _inner.Write([0xC2]);
            }

            if (!_leaveOpen)
            {
                _inner.Dispose();
            }
        }

        base.Dispose(disposing);
    }

    /// <summary>Filters <paramref name="input"/> into <see cref="_output"/>; returns the bytes written there.</summary>
    private int Filter(ReadOnlySpan<byte> input)
    {
        var length = 0;
        foreach (var b in input)
        {
            length = Next(b, length);
        }

        return length;
    }

    private int Next(byte b, int length)
    {
        switch (_state)
        {
            case State.AfterC2:
                _state = State.Text;
                if (b is >= 0x80 and <= 0x9F)
                {
                    return Escaped(b, length);
                }

                _output[length++] = 0xC2;
                return Text(b, length);
            case State.Escape:
                switch (b)
                {
                    case (byte)'[':
                        _state = State.ControlSequence;
                        return length;
                    case (byte)']' or (byte)'P' or (byte)'X' or (byte)'^' or (byte)'_':
                        _state = State.String;
                        return length;
                    case Esc:
                        return length;
                    case >= 0x20 and <= 0x2F:
                        _state = State.EscapeIntermediate;
                        return length;
                    case >= 0x30 and <= 0x7E:
                        _state = State.Text;
                        return length;
                    default:
                        // Not a sequence after all: the byte is text (a line feed, say).
                        _state = State.Text;
                        return Text(b, length);
                }

            case State.EscapeIntermediate:
                switch (b)
                {
                    case >= 0x20 and <= 0x2F:
                        return length;
                    case >= 0x30 and <= 0x7E:
                        _state = State.Text;
                        return length;
                    default:
                        _state = State.Text;
                        return Text(b, length);
                }

            case State.ControlSequence:
                switch (b)
                {
                    case >= 0x20 and <= 0x3F:
                        return length;
                    case >= 0x40 and <= 0x7E:
                        _state = State.Text;
                        return length;
                    default:
                        _state = State.Text;
                        return Text(b, length);
                }

            case State.String:
                switch (b)
                {
                    case 0x07:
                        _state = State.Text;
                        return length;
                    case Esc:
                        _state = State.StringEscape;
                        return length;
                    case (byte)'\n' or (byte)'\r':
                        _state = State.Text;
                        return Text(b, length);
                    default:
                        return length;
                }

            case State.StringEscape:
                if (b == (byte)'\\')
                {
                    _state = State.Text;
                    return length;
                }

                _state = State.Escape;
                return Next(b, length);
            default:
                return Text(b, length);
        }
    }

    private int Text(byte b, int length)
    {
        var afterCarriageReturn = _afterCarriageReturn;
        _afterCarriageReturn = false;
        switch (b)
        {
            case (byte)'\n' when afterCarriageReturn:
                return length; // CR LF: the CR ended the line already.
            case (byte)'\r':
                _afterCarriageReturn = true;
                _output[length++] = (byte)'\n';
                return length;
            case (byte)'\n' or (byte)'\t':
                _output[length++] = b;
                return length;
            case Esc:
                _state = State.Escape;
                return length;
            case 0xC2:
                _state = State.AfterC2;
                return length;
            case < 0x20 or 0x7F:
                return Escaped(b, length);
            default:
                _output[length++] = b;
                return length;
        }
    }

    /// <summary>Writes <c>\u00XX</c> for a control character.</summary>
    private int Escaped(byte control, int length)
    {
        "\\u00"u8.CopyTo(_output.AsSpan(length));
        _output[length + 4] = Hex[control >> 4];
        _output[length + 5] = Hex[control & 0xF];
        return length + 6;
    }
}
