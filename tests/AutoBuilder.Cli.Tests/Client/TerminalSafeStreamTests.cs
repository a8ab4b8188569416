using System.Text;
using AutoBuilder.Cli.Client;

namespace AutoBuilder.Cli.Tests.Client;

public sealed class TerminalSafeStreamTests
{
    public static TheoryData<string, string> Hostile => new()
    {
        { "\u001b[1;31mred\u001b[0m text\n", "red text\n" }, // colours (CSI SGR)
        { "a\u001b[2J\u001b[H\u001b[3Ab\n", "ab\n" }, // clear screen, cursor home and up
        { "\u001b[?1049hx\u001b[?25l\n", "x\n" }, // private-mode CSI
        { "\u001b]0;owned\u0007after\n", "after\n" }, // window title (OSC, BEL)
        { "\u001b]8;;https://evil.example/\u001b\\click\u001b]8;;\u001b\\\n", "click\n" }, // hyperlink (OSC, ST)
        { "\u001bPq#0;2;0;0;0\u001b\\x\n", "x\n" }, // DCS string
        { "\u001b]0;hidden\n[autobuilder] outcome: failed\n", "\n[autobuilder] outcome: failed\n" }, // OSC left open ends at the line end
        { "\u001b(Ba\u001b7b\u001bc\n", "ab\n" }, // short ESC forms (charset, save cursor, reset)
        { "a\u001b\nb\n", "a\nb\n" }, // ESC before a line feed
        { "[build] x\r[autobuilder] outcome: succeeded\n", "[build] x\n[autobuilder] outcome: succeeded\n" }, // lone carriage return
        { "a\r\nb\r\n", "a\nb\n" }, // CR LF is one line end
        { "ab\bc\u0007\0\u007f\n", "ab\\u0008c\\u0007\\u0000\\u007F\n" }, // backspace, bell, NUL, DEL
        { "a\u009b2Jb\n", "a\\u009B2Jb\n" }, // C1 CSI (U+009B)
        { "\tcafé © ✓\n", "\tcafé © ✓\n" }, // tab and printable Unicode stay
    };

    [Theory]
    [MemberData(nameof(Hostile))]
    public async Task WriteAsync_ControlSequences_AreRemovedOrShownAsEscapes(string log, string shown)
    {
        Assert.Equal(shown, await FilterAsync(Encoding.UTF8.GetBytes(log), chunk: int.MaxValue));
    }

    [Theory]
    [MemberData(nameof(Hostile))]
    public async Task WriteAsync_OneByteAtATime_GivesTheSameOutput(string log, string shown)
    {
        // A sequence (or a CR LF, or a two-byte character) cut by the network between two writes.
        Assert.Equal(shown, await FilterAsync(Encoding.UTF8.GetBytes(log), chunk: 1));
    }

    [Fact]
    public async Task WriteAsync_PlainLog_PassesByteForByte()
    {
        var log = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Range(0, 5000).Select(i => $"[autobuilder] line {i}\twith é and \"quotes\" [red]x[/]\n")));

        Assert.Equal(Encoding.UTF8.GetString(log), await FilterAsync(log, chunk: 16 * 1024));
    }

    [Fact]
    public void Write_InvalidUtf8_PassesAsItIs()
    {
        using var output = new MemoryStream();
        using (var stream = new TerminalSafeStream(output, leaveOpen: true))
        {
            stream.Write([0xFF, 0xC2, 0x41, 0x0A, 0xC2]); // a lone 0xC2 before 'A', and one at the very end
        }

        Assert.Equal([0xFF, 0xC2, 0x41, 0x0A, 0xC2], output.ToArray());
    }

    private static async Task<string> FilterAsync(byte[] log, int chunk)
    {
        using var output = new MemoryStream();
        await using (var stream = new TerminalSafeStream(output, leaveOpen: true))
        {
            for (var offset = 0; offset < log.Length; offset += chunk)
            {
                await stream.WriteAsync(log.AsMemory(offset, Math.Min(chunk, log.Length - offset)));
            }
        }

        return Encoding.UTF8.GetString(output.ToArray());
    }
}
