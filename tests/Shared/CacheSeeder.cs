using System.Security.Cryptography;
using AutoBuilder.Core;
using AutoBuilder.Core.Storage;
using AutoBuilder.Server.Persistence;
using Microsoft.Extensions.DependencyInjection;

namespace AutoBuilder.Tests.Shared;

/// <summary>
/// Seeds keyed cache entries the way a save leaves them: the archive blob written through the server's
/// <see cref="IBlobStore"/> first, then its row. Shared by the test projects as a linked source file.
/// </summary>
internal static class CacheSeeder
{
    /// <summary>Writes a random archive of <paramref name="size"/> bytes at cache/{projectId}/{toolchain}/{key}.tar.zst and registers it.</summary>
    public static async Task<CacheEntryEntity> SeedAsync(
        IServiceProvider services, string projectId, string toolchain, string key, int size, DateTimeOffset lastUsedAt, DateTimeOffset? createdAt = null)
    {
        var blob = await WriteArchiveAsync(services, projectId, toolchain, key, size);
        var entry = new CacheEntryEntity
        {
            Id = Ids.NewId(),
            ProjectId = projectId,
            Toolchain = toolchain,
            Key = key,
            Size = blob.Size,
            Sha256 = blob.Sha256,
            CreatedAt = createdAt ?? lastUsedAt,
            LastUsedAt = lastUsedAt,
            BuildId = Ids.NewId(),
        };
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AutoBuilderDbContext>();
        db.CacheEntries.Add(entry);
        await db.SaveChangesAsync();
        return entry;
    }

    /// <summary>Only the archive, without a row: what a saver leaves between upload and registration, or when it dies there.</summary>
    public static async Task<BlobUploadResult> WriteArchiveAsync(IServiceProvider services, string projectId, string toolchain, string key, int size)
    {
        var store = services.GetRequiredService<IBlobStore>();
        var layout = services.GetRequiredService<BlobLayout>();
        using var content = new MemoryStream(RandomNumberGenerator.GetBytes(size));
        return await store.UploadAsync(layout.CacheArchive(projectId, toolchain, key), content, overwrite: false);
    }

    /// <summary>Whether the archive of an entry is in the blob store.</summary>
    public static async Task<bool> ArchiveExistsAsync(IServiceProvider services, string projectId, string toolchain, string key) =>
        await services.GetRequiredService<IBlobStore>()
            .GetPropertiesAsync(services.GetRequiredService<BlobLayout>().CacheArchive(projectId, toolchain, key)) is not null;
}
