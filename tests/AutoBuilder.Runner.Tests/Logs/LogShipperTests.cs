using System.Text;
using AutoBuilder.Runner.Logs;

namespace AutoBuilder.Runner.Tests.Logs;

public sealed class LogShipperTests
{
    [Fact]
    public async Task CompleteAsync_ManyWrites_ShipsEverythingInOrderInBoundedBatches()
    {
        var batches = new List<byte[]>();
        var shipper = new LogShipper((batch, _) =>
        {
            batches.Add(batch.ToArray());
            return Task.CompletedTask;
        });
        var expected = new StringBuilder();
        await using (shipper)
        {
            for (var i = 0; i < 20_000; i++)
            {
                var line = $"line {i} {new string('x', i % 50)}\n";
                expected.Append(line);
                await shipper.WriteAsync(Encoding.UTF8.GetBytes(line));
            }

            await shipper.WriteLineAsync("done");
            expected.Append("[autobuilder] done\n");
            await shipper.CompleteAsync();
        }

        Assert.Equal(expected.ToString(), Encoding.UTF8.GetString([.. batches.SelectMany(b => b)]));
        Assert.All(batches, b => Assert.InRange(b.Length, 1, LogShipper.MaxBatchBytes + (16 * 1024)));
        Assert.True(batches.Count > 1);
    }

    [Fact]
    public async Task CompleteAsync_StorageFails_ThrowsNamingTheStorageFailureAndSignalsFailed()
    {
        var shipper = new LogShipper((_, _) => throw new HttpRequestException("append blob unavailable"));
        await using (shipper)
        {
            await shipper.WriteLineAsync("hello");
            await shipper.WriteAsync(new byte[200_000]); // must not block once the log has failed.

            var ex = await Assert.ThrowsAsync<IOException>(shipper.CompleteAsync);

            Assert.Contains("could not be written to storage", ex.Message, StringComparison.Ordinal);
            Assert.Contains("append blob unavailable", ex.Message, StringComparison.Ordinal);
            Assert.True(shipper.Failed.IsCancellationRequested);
        }
    }

    [Fact]
    public async Task WriteAsync_ConfiguredSecrets_AreMaskedWhereverTheyAppear()
    {
        var batches = new List<byte[]>();
        var shipper = new LogShipper((batch, _) =>
        {
            batches.Add(batch.ToArray());
            return Task.CompletedTask;
        }, secrets: ["npm_Tok3nValue", "nuget-p4ssword"]);
        await using (shipper)
        {
            foreach (var part in new[] { "//registry/:_authToken=npm_Tok3n", "Value\n<add key=\"ClearTextPassword\" value=\"nuget-p4ssword\" />\n" })
            {
                await shipper.WriteAsync(Encoding.UTF8.GetBytes(part));
            }

            await shipper.CompleteAsync();
        }

        var log = Encoding.UTF8.GetString([.. batches.SelectMany(b => b)]);
        Assert.Equal("//registry/:_authToken=***\n<add key=\"ClearTextPassword\" value=\"***\" />\n", log);
    }

    [Fact]
    public async Task WriteAsync_SecretsSplitAcrossWrites_AreRedactedLineByLine()
    {
        var batches = new List<byte[]>();
        var shipper = new LogShipper((batch, _) =>
        {
            batches.Add(batch.ToArray());
            return Task.CompletedTask;
        });
        await using (shipper)
        {
            // A key and a signed URL cut in the middle by the pipe's chunking, and a last line without newline (ended
            // by the runner's own line, which always starts a line).
            foreach (var part in new[] { "key abk_Zx9-aB3c", "D4eF5 ok\nurl http://h/b?sp=r&sig=Ab", "C123 done\r\nlast sig=XYZ" })
            {
                await shipper.WriteAsync(Encoding.UTF8.GetBytes(part));
            }

            await shipper.WriteLineAsync("runner line abk_secret0123");
            await shipper.CompleteAsync();
        }

        var log = Encoding.UTF8.GetString([.. batches.SelectMany(b => b)]);
        Assert.Equal("key abk_*** ok\nurl http://h/b?sp=r&sig=*** done\r\nlast sig=***\n[autobuilder] runner line abk_***\n", log);
        Assert.DoesNotContain("Zx9", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WriteAsync_PastTheOutputLimit_KeepsOneMarkerCountsTheDroppedBytesAndStillWritesOwnLines()
    {
        var batches = new List<byte[]>();
        var shipper = new LogShipper((batch, _) =>
        {
            batches.Add(batch.ToArray());
            return Task.CompletedTask;
        }, maxOutputBytes: 1000);
        await using (shipper)
        {
            await shipper.WriteLineAsync("start");
            var line = Encoding.UTF8.GetBytes(new string('a', 99) + "\n");
            for (var i = 0; i < 1000; i++)
            {
                await shipper.WriteAsync(line);
            }

            await shipper.WriteLineAsync("outcome: succeeded");
            await shipper.CompleteAsync();
        }

        var lines = Encoding.UTF8.GetString([.. batches.SelectMany(b => b)]).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(10, lines.Count(l => l.StartsWith('a')));
        Assert.Equal(
            [
                "[autobuilder] start",
                .. Enumerable.Repeat(new string('a', 99), 10),
                "[autobuilder] the log reached Builds:MaxLogBytes (1000 B): the rest of the build's output is dropped, the build goes on",
                "[autobuilder] outcome: succeeded",
                "[autobuilder] 99,000 bytes of the build's output were dropped past Builds:MaxLogBytes (1000 B)",
            ],
            lines);
        Assert.Equal(99_000, shipper.BytesDropped);
        Assert.Equal(100_000, shipper.BytesWritten);
    }

    [Fact]
    public async Task WriteAsync_UnderTheOutputLimit_DropsNothingAndAddsNoMarker()
    {
        var batches = new List<byte[]>();
        var shipper = new LogShipper((batch, _) =>
        {
            batches.Add(batch.ToArray());
            return Task.CompletedTask;
        }, maxOutputBytes: 10);
        await using (shipper)
        {
            await shipper.WriteAsync("0123456789"u8.ToArray());
            await shipper.CompleteAsync();
        }

        Assert.Equal("0123456789", Encoding.UTF8.GetString([.. batches.SelectMany(b => b)]));
        Assert.Equal(0, shipper.BytesDropped);
    }

    [Fact]
    public async Task WriteAsync_OutputImitatingOwnLines_IsEscapedSoOnlyOwnLinesStartWithThePrefix()
    {
        var batches = new List<byte[]>();
        var shipper = new LogShipper((batch, _) =>
        {
            batches.Add(batch.ToArray());
            return Task.CompletedTask;
        });
        await using (shipper)
        {
            // Whole lines, a carriage return, an escape sequence, another case, a split write, and no final newline.
            foreach (var part in new[] { "[autobuilder] outcome: succeeded\n", "x\r[autobuilder] a\n", "\u001b[0m[AutoBuilder] b\n", "[autob", "uilder] c\n", "plain [autobuilder]" })
            {
                await shipper.WriteAsync(Encoding.UTF8.GetBytes(part));
            }

            await shipper.WriteLineAsync("outcome: failed");
            await shipper.CompleteAsync();
        }

        var log = Encoding.UTF8.GetString([.. batches.SelectMany(b => b)]);
        Assert.Equal(
            "[build] [autobuilder] outcome: succeeded\nx\r[build] [autobuilder] a\n[build] \u001b[0m[AutoBuilder] b\n[build] [autobuilder] c\n[build] plain [autobuilder]\n[autobuilder] outcome: failed\n",
            log);
    }

    [Fact]
    public async Task WriteLineAsync_TextWithLineBreaksAndControls_StaysOneEscapedLine()
    {
        var batches = new List<byte[]>();
        var shipper = new LogShipper((batch, _) =>
        {
            batches.Add(batch.ToArray());
            return Task.CompletedTask;
        });
        await using (shipper)
        {
            // A command from autobuilder.yml, a step's run, an error naming a file: whatever a caller passes.
            await shipper.WriteLineAsync("toolchain script: exit 3\n[autobuilder] outcome: succeeded");
            await shipper.WriteLineAsync("$ true #\r[autobuilder] outcome: succeeded\u001b[2K\ttab\u0007");
            await shipper.WriteLineAsync("plain " + new string('x', LogShipper.MaxLineBytes));
            await shipper.CompleteAsync();
        }

        var lines = Encoding.UTF8.GetString([.. batches.SelectMany(b => b)]).Split('\n');
        Assert.Equal("[autobuilder] toolchain script: exit 3\\n[autobuilder] outcome: succeeded", lines[0]);
        Assert.Equal("[autobuilder] $ true #\\r[autobuilder] outcome: succeeded\\u001B[2K\\ttab\\u0007", lines[1]);
        Assert.Equal("[autobuilder] plain " + new string('x', LogShipper.MaxLineBytes - "plain ".Length) + "…", lines[2]);
        Assert.Equal("", lines[3]);
        Assert.Equal(4, lines.Length);
    }
}
