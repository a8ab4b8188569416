using AutoBuilder.Cli.Client;

namespace AutoBuilder.Cli.Tests.Client;

public sealed class ProgressStreamTests
{
    [Fact]
    public async Task ReadAsync_WholeStream_ReportsRunningTotalsEndingAtLength()
    {
        var data = new byte[10_000];
        Random.Shared.NextBytes(data);
        var reports = new List<long>();
        await using var stream = new ProgressStream(new MemoryStream(data), reports.Add);
        using var copy = new MemoryStream();

        var buffer = new byte[3_000];
        int read;
        while ((read = await stream.ReadAsync(buffer)) > 0)
        {
            await copy.WriteAsync(buffer.AsMemory(0, read));
        }

        Assert.Equal(data, copy.ToArray());
        Assert.Equal([3_000L, 6_000L, 9_000L, 10_000L], reports);
        Assert.Equal(10_000, stream.BytesTransferred);
    }

    [Fact]
    public void Length_SeekableInner_PassesThrough()
    {
        using var stream = new ProgressStream(new MemoryStream(new byte[1234]), _ => { });

        Assert.True(stream.CanSeek);
        Assert.Equal(1234, stream.Length);
    }

    [Fact]
    public async Task WriteAsync_Chunks_ReportsBytesWritten()
    {
        long last = 0;
        using var inner = new MemoryStream();
        await using var stream = new ProgressStream(inner, total => last = total, leaveOpen: true);

        await stream.WriteAsync(new byte[100]);
        await stream.WriteAsync(new byte[50]);

        Assert.Equal(150, last);
        Assert.Equal(150, inner.Length);
    }
}
