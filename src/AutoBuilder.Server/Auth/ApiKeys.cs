using System.Security.Cryptography;
using System.Text;
using AutoBuilder.Core;
using AutoBuilder.Server.Persistence;
using Microsoft.EntityFrameworkCore;

namespace AutoBuilder.Server.Auth;

/// <summary>Issues API keys (random, shown once) and finds the user behind one (by hash).</summary>
public sealed class ApiKeyService(AutoBuilderDbContext db, TimeProvider time)
{
    private const string Prefix = "abk_";

    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>Creates the user when missing and returns a new key for it.</summary>
    public async Task<(string KeyId, string Key)> CreateKeyAsync(string userName, bool isAdmin, CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        var user = await db.Users.FindAsync([userName], cancellationToken);
        if (user is null)
        {
            db.Users.Add(new UserEntity { Name = userName, IsAdmin = isAdmin, CreatedAt = now });
        }

        var key = Prefix + Base64Url(RandomNumberGenerator.GetBytes(32));
        var id = Ids.NewId();
        db.ApiKeys.Add(new ApiKeyEntity { Id = id, UserName = userName, Hash = Hash(key), CreatedAt = now });
        await db.SaveChangesAsync(cancellationToken);
        return (id, key);
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
