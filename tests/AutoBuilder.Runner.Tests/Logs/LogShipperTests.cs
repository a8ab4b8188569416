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
            // A key and a signed URL cut in the middle by the pipe's chunking, and a last line without newline.
            foreach (var part in new[] { "key abk_Zx9-aB3c", "D4eF5 ok\nurl http://h/b?sp=r&sig=Ab", "C123 done\r\nlast sig=XYZ" })
            {
                await shipper.WriteAsync(Encoding.UTF8.GetBytes(part));
            }

            await shipper.WriteLineAsync("runner line abk_secret0123");
            await shipper.CompleteAsync();
        }

        var log = Encoding.UTF8.GetString([.. batches.SelectMany(b => b)]);
        Assert.Equal("key abk_*** ok\nurl http://h/b?sp=r&sig=*** done\r\nlast sig=***[autobuilder] runner line abk_***\n", log);
        Assert.DoesNotContain("Zx9", log, StringComparison.Ordinal);
    }
}
