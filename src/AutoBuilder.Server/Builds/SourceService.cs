using System.Buffers;
using System.IO.Compression;
using AutoBuilder.Core;
using AutoBuilder.Core.Archives;
using AutoBuilder.Core.Storage;
using AutoBuilder.Server.Hosting;
using AutoBuilder.Server.Persistence;
using Microsoft.Extensions.Options;

namespace AutoBuilder.Server.Builds;

/// <summary>Accepts source ZIPs: streamed to a spool file while hashed, checked, then moved into the blob store.</summary>
public sealed class SourceService(AutoBuilderDbContext db, IBlobStore store, BlobLayout layout, ServerPaths paths, IOptions<UploadOptions> limits, TimeProvider time)
{
    private const int BufferSize = 1024 * 1024;
    private const long RatioFloorBytes = 1024 * 1024;

    public async Task<SourceEntity> UploadAsync(string projectId, Stream body, CancellationToken cancellationToken = default)
    {
        var sourceId = Ids.NewId();
        var spool = Path.Combine(paths.TempDirectory, $"upload-{sourceId}.zip");
        try
        {
            // Spooled with plain buffered writes: the store's import hashes the file (its SHA-256 is the one recorded),
            // so hashing here as well would be a second pass over every byte of a large upload.
            long size;
            using (var file = new FileStream(spool, FileMode.CreateNew, FileAccess.Write, FileShare.None, BufferSize))
            {
                var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
                try
                {
                    int read;
                    while ((read = await body.ReadAsync(buffer, cancellationToken)) > 0)
                    {
                        file.Write(buffer, 0, read);
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }

                size = file.Length;
            }

            if (size == 0)
            {
                throw new InvalidInputException("Empty body", "The request body is empty: send the project's source as a ZIP archive.");
            }

            CheckArchive(spool, size);
            var stored = await store.ImportFileAsync(layout.Source(projectId, sourceId), spool, overwrite: false, cancellationToken);
            var sha256 = stored.Sha256;

            var source = new SourceEntity { Id = sourceId, ProjectId = projectId, Size = size, Sha256 = sha256, CreatedAt = time.GetUtcNow() };
            db.Sources.Add(source);
            await db.SaveChangesAsync(cancellationToken);
            return source;
        }
        finally
        {
            File.Delete(spool);
        }
    }

    /// <summary>
    /// Refuses what is not a ZIP, entries the runner would refuse to extract (<see cref="ArchiveRules"/>, the one rule both
    /// apply), and archives beyond the Uploads limits. Sizes are the central directory's declared ones (nothing is
    /// decompressed here; the rules refuse compressed data larger than its declared size could produce, and the runner's
    /// extractor fails a build whose entry holds more than declared). A ZIP inside the ZIP is just a file: it is never opened.
    /// </summary>
    private void CheckArchive(string path, long size)
    {
        var options = limits.Value;
        try
        {
            using var zip = ZipFile.OpenRead(path);
            if (zip.Entries.Count > options.MaxEntries)
            {
                throw new InvalidInputException("Too many archive entries",
                    $"The archive has {zip.Entries.Count} entries; at most {options.MaxEntries} are accepted (Uploads:MaxEntries).");
            }

            ArchiveRules.Check(zip);
            long uncompressed = 0;
            foreach (var entry in zip.Entries)
            {
                uncompressed = long.MaxValue - uncompressed < entry.Length ? long.MaxValue : uncompressed + entry.Length;
            }

            var ratio = uncompressed / (double)size;
            if (uncompressed > RatioFloorBytes && ratio > options.MaxCompressionRatio)
            {
                throw new InvalidInputException("Compression ratio too high",
                    $"The archive's {size} bytes declare {uncompressed} bytes of content, a ratio of {ratio:F0}; at most {options.MaxCompressionRatio} is accepted (Uploads:MaxCompressionRatio).");
            }

            if (uncompressed > options.MaxUncompressedBytes)
            {
                throw new InvalidInputException("Archive too large when extracted",
                    $"The entries declare {uncompressed} bytes in total; at most {options.MaxUncompressedBytes} are accepted (Uploads:MaxUncompressedBytes).");
            }
        }
        catch (UnsafeArchiveException e)
        {
            throw e.Kind switch
            {
                ArchiveProblemKind.Duplicate => new InvalidInputException("Duplicate archive entry", $"Entry '{Printable.Of(e.EntryName)}' {e.Problem}."),
                ArchiveProblemKind.UnsafeSymlink => new InvalidInputException("Unsafe symlink entry", $"Entry '{Printable.Of(e.EntryName)}' {e.Problem}."),
                ArchiveProblemKind.Corrupt => new InvalidInputException("Corrupt archive", $"The archive is corrupt: entry '{Printable.Of(e.EntryName)}' {e.Problem}."),
                _ => new InvalidInputException("Unsafe archive entry",
                    $"Entry '{Printable.Of(e.EntryName)}' {e.Problem}; every entry must stay inside the project folder."),
            };
        }
        catch (InvalidDataException e)
        {
            throw new InvalidInputException("Not a ZIP archive", $"The body could not be read as a ZIP archive: {e.Message}");
        }
    }
}
