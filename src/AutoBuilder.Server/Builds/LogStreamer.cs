using AutoBuilder.Core.Builds;
using AutoBuilder.Core.Storage;
using AutoBuilder.Server.Persistence;
using Microsoft.EntityFrameworkCore;

namespace AutoBuilder.Server.Builds;

/// <summary>
/// Streams a build log from the blob store. Following, it sends what the runner appends as it arrives and ends
/// once the build is finished and the last bytes are out. The log is never held whole in memory.
/// </summary>
public sealed class LogStreamer(AutoBuilderDbContext db, IBlobStore store, BlobLayout layout, TimeProvider time)
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);

    public async Task StreamAsync(BuildEntity build, bool follow, Stream output, CancellationToken cancellationToken = default)
    {
        var blob = layout.BuildLog(build.ProjectId, build.Number);
        var offset = await CopyFromAsync(blob, 0, output, cancellationToken);
        if (!follow)
        {
            return;
        }

        var finished = build.Status.IsTerminal();
        while (!finished)
        {
            await Task.Delay(PollInterval, time, cancellationToken);
            // Read the status before the blob, so the last read after "finished" sees every byte written before it.
            finished = (await db.Builds.AsNoTracking().Where(b => b.Id == build.Id).Select(b => b.Status).SingleAsync(cancellationToken)).IsTerminal();
            offset += await CopyFromAsync(blob, offset, output, cancellationToken);
        }
    }

    private async Task<long> CopyFromAsync(BlobRef blob, long offset, Stream output, CancellationToken cancellationToken)
    {
        Stream input;
        try
        {
            input = await store.OpenReadAsync(blob, offset, cancellationToken);
        }
        catch (BlobNotFoundException)
        {
            return 0;
        }

        await using (input)
        {
            var buffer = new byte[64 * 1024];
            long copied = 0;
            int read;
            while ((read = await input.ReadAsync(buffer, cancellationToken)) > 0)
            {
                await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                copied += read;
            }

            if (copied > 0)
            {
                await output.FlushAsync(cancellationToken);
            }

            return copied;
        }
    }
}
