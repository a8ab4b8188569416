using System.Security.Cryptography;
using System.Text;
using AutoBuilder.Core;
using AutoBuilder.Core.Api;
using AutoBuilder.Server.Persistence;
using Microsoft.EntityFrameworkCore;

namespace AutoBuilder.Server.Auth;

/// <summary>Issues API keys (random, shown once) and finds the user behind one (by hash).</summary>
public sealed class ApiKeyService(AutoBuilderDbContext db, TimeProvider time)
{
    private const string Prefix = "abk_";

    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>
    /// Creates the user when missing and returns a new key for it. The role belongs to the user:
    /// <paramref name="isAdmin"/> makes the user an admin; false leaves an existing user's role as it is.
    /// </summary>
    public async Task<(string KeyId, string Key)> CreateKeyAsync(string userName, bool isAdmin, CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        var user = await db.Users.FindAsync([userName], cancellationToken);
        if (user is null)
        {
            db.Users.Add(new UserEntity { Name = userName, IsAdmin = isAdmin, CreatedAt = now });
        }
        else if (isAdmin)
        {
            user.IsAdmin = true;
        }

        var key = Prefix + Base64Url(RandomNumberGenerator.GetBytes(32));
        var id = Ids.NewId();
        db.ApiKeys.Add(new ApiKeyEntity { Id = id, UserName = userName, Hash = Hash(key), CreatedAt = now });
        await db.SaveChangesAsync(cancellationToken);
        return (id, key);
    }

    /// <summary>Every key, oldest first, with its user's role; never the key or its hash.</summary>
    public async Task<IReadOnlyList<ApiKeyDto>> ListAsync(CancellationToken cancellationToken = default)
    {
        var rows = await (from k in db.ApiKeys.AsNoTracking()
                          join u in db.Users.AsNoTracking() on k.UserName equals u.Name
                          select new { k.Id, k.UserName, u.IsAdmin, k.CreatedAt, k.RevokedAt }).ToListAsync(cancellationToken);
        return rows.OrderBy(r => r.Id, StringComparer.Ordinal)
            .Select(r => new ApiKeyDto(r.Id, r.UserName, r.IsAdmin, r.CreatedAt, r.RevokedAt)).ToList();
    }

    /// <summary>Revokes a key at once (every request looks the key up: nothing is cached). Null when there is no such key; revoking twice keeps the first time.</summary>
    public async Task<ApiKeyDto?> RevokeAsync(string keyId, CancellationToken cancellationToken = default)
    {
        if (!Ids.IsValidGeneratedId(keyId))
        {
            return null;
        }

        var key = await db.ApiKeys.FirstOrDefaultAsync(k => k.Id == keyId, cancellationToken);
        if (key is null)
        {
            return null;
        }

        key.RevokedAt ??= time.GetUtcNow();
        await db.SaveChangesAsync(cancellationToken);
        var user = await db.Users.AsNoTracking().FirstAsync(u => u.Name == key.UserName, cancellationToken);
        return new ApiKeyDto(key.Id, key.UserName, user.IsAdmin, key.CreatedAt, key.RevokedAt);
    }

    /// <summary>The user of a valid, unrevoked key, or null.</summary>
    public async Task<UserEntity?> FindUserAsync(string key, CancellationToken cancellationToken = default)
    {
        if (!key.StartsWith(Prefix, StringComparison.Ordinal) || key.Length > 128)
        {
            return null;
        }

        var hash = Hash(key);
        return await (from k in db.ApiKeys.AsNoTracking()
                      join u in db.Users.AsNoTracking() on k.UserName equals u.Name
                      where k.Hash == hash && k.RevokedAt == null
                      select u).FirstOrDefaultAsync(cancellationToken);
    }

    internal static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
