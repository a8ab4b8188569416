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

    /// <summary>
    /// Makes sure <paramref name="key"/> (a key chosen outside, e.g. Auth:BootstrapAdminKey) belongs to the user, creating
    /// the user when missing. True when something was added; false when the key was there already (a no-op restart).
    /// </summary>
    public async Task<bool> EnsureKeyAsync(string userName, string key, bool isAdmin, CancellationToken cancellationToken = default)
    {
        if (!IsWellFormed(key))
        {
            throw new ArgumentException("The key is not a well-formed AutoBuilder API key.", nameof(key));
        }

        var hash = Hash(key);
        var existing = await db.ApiKeys.AsNoTracking().FirstOrDefaultAsync(k => k.Hash == hash, cancellationToken);
        if (existing is not null)
        {
            return existing.UserName == userName && existing.RevokedAt is null
                ? false
                : throw new InvalidOperationException($"The key is already recorded for user '{existing.UserName}'{(existing.RevokedAt is null ? "" : " and revoked")}; choose another.");
        }

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

        db.ApiKeys.Add(new ApiKeyEntity { Id = Ids.NewId(), UserName = userName, Hash = hash, CreatedAt = now });
        try
        {
            await db.SaveChangesAsync(cancellationToken);
            return true;
        }
        catch (DbUpdateException)
        {
            // Another process added the same user or key at the same moment (a unique violation on either provider).
            db.ChangeTracker.Clear();
            return await EnsureKeyAsync(userName, key, isAdmin, cancellationToken);
        }
    }

    /// <summary>The shape of the keys this service issues: "abk_" and 43–124 URL-safe base64 characters (≥ 256 bits).</summary>
    public static bool IsWellFormed(string? key) =>
        key is { Length: >= 47 and <= 128 } && key.StartsWith(Prefix, StringComparison.Ordinal)
        && key.AsSpan(Prefix.Length).ContainsAnyExcept(Base64UrlCharacters) is false;

    private static readonly System.Buffers.SearchValues<char> Base64UrlCharacters =
        System.Buffers.SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");

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
