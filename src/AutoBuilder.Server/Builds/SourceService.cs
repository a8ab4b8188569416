using System.IO.Compression;
using System.Security.Cryptography;
using AutoBuilder.Core;
using AutoBuilder.Core.Archives;
using AutoBuilder.Core.Storage;
using AutoBuilder.Server.Api;
using AutoBuilder.Server.Hosting;
using AutoBuilder.Server.Persistence;
using Microsoft.AspNetCore.Http;

namespace AutoBuilder.Server.Builds;

/// <summary>Accepts source ZIPs: streamed to a spool file while hashed, checked, then moved into the blob store.</summary>
public sealed class SourceService(AutoBuilderDbContext db, IBlobStore store, BlobLayout layout, ServerPaths paths, TimeProvider time)
{
    private const int BufferSize = 1024 * 1024;

    public async Task<SourceEntity> UploadAsync(string projectId, Stream body, CancellationToken cancellationToken = default)
    {
        var sourceId = Ids.NewId();
        var spool = Path.Combine(paths.TempDirectory, $"upload-{sourceId}.zip");
        try
        {
            long size;
            string sha256;
            await using (var file = new FileStream(spool, FileMode.CreateNew, FileAccess.Write, FileShare.None, BufferSize, FileOptions.Asynchronous))
            using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
            {
                var buffer = new byte[BufferSize];
                int read;
                while ((read = await body.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    hash.AppendData(buffer, 0, read);
                    await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                }

                size = file.Length;
                sha256 = Convert.ToHexStringLower(hash.GetHashAndReset());
            }

            if (size == 0)
            {
                throw new ApiException(StatusCodes.Status400BadRequest, "Empty body", "The request body is empty: send the project's source as a ZIP archive.");
            }

            CheckArchive(spool);
            await store.ImportFileAsync(layout.Source(projectId, sourceId), spool, overwrite: false, cancellationToken);

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

    /// <summary>Refuses what is not a ZIP, and entries that could escape the workspace when extracted.</summary>
    private static void CheckArchive(string path)
    {
        try
        {
            using var zip = ZipFile.OpenRead(path);
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var entry in zip.Entries)
            {
                var problem = ArchiveEntryNames.FindProblem(entry.FullName);
                if (problem is not null)
                {
                    throw new ApiException(StatusCodes.Status400BadRequest, "Unsafe archive entry", $"Entry '{Printable(entry.FullName)}' {problem}; every entry must stay inside the project folder.");
                }

                if (!names.Add(entry.FullName.Replace('\\', '/')))
                {
                    throw new ApiException(StatusCodes.Status400BadRequest, "Duplicate archive entry", $"Entry '{Printable(entry.FullName)}' appears twice.");
                }
            }
        }
        catch (InvalidDataException e)
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "Not a ZIP archive", $"The body could not be read as a ZIP archive: {e.Message}");
        }
    }

    private static string Printable(string name) => new(name.Select(c => char.IsControl(c) ? '?' : c).Take(200).ToArray());
}
