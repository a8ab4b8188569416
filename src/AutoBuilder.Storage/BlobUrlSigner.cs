using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using AutoBuilder.Core.Storage;

namespace AutoBuilder.Storage;

/// <summary>Outcome of <see cref="BlobUrlSigner.Verify"/>.</summary>
public enum SignatureStatus
{
    /// <summary>Missing, garbled or tampered: the URL grants nothing.</summary>
    Invalid,
    /// <summary>Authentic, but its expiry has passed.</summary>
    Expired,
    /// <summary>Authentic and in time; <see cref="SignatureCheck.Permission"/> says what it grants.</summary>
    Valid,
}

/// <summary>The result of checking a signed blob URL. <see cref="Permission"/> is set only when <see cref="Status"/> is Valid.</summary>
public sealed record SignatureCheck(SignatureStatus Status, BlobPermission? Permission = null)
{
    public static SignatureCheck Invalid { get; } = new(SignatureStatus.Invalid);

    public static SignatureCheck Expired { get; } = new(SignatureStatus.Expired);

    public bool IsValid => Status == SignatureStatus.Valid;
}

/// <summary>
/// Signs and verifies blob URLs of the filesystem store (served by the API's <c>/blobs/...</c> endpoint).
/// signature = base64url(HMAC-SHA256(key, "{sp}\n{container}\n{path}\n{exp}")), path unescaped, exp in unix seconds.
/// </summary>
public sealed class BlobUrlSigner
{
    public const int MinimumKeyLength = 32;

    private readonly byte[] _key;

    public BlobUrlSigner(byte[] signingKey)
    {
        ArgumentNullException.ThrowIfNull(signingKey);
        if (signingKey.Length < MinimumKeyLength)
        {
            throw new ArgumentException(
                $"The blob signing key must be at least {MinimumKeyLength} bytes; it is {signingKey.Length}.", nameof(signingKey));
        }

        _key = (byte[])signingKey.Clone();
    }

    /// <summary>The query string (without '?') granting <paramref name="permission"/> on <paramref name="blob"/> until <paramref name="expiresAt"/> (whole seconds, rounded down).</summary>
    public string Sign(BlobRef blob, BlobPermission permission, DateTimeOffset expiresAt)
    {
        if (!IsSignable(blob))
        {
            throw new ArgumentException($"Blob '{blob}' cannot be signed: container and path must be non-empty and free of control characters.", nameof(blob));
        }

        var sp = ToLetter(permission);
        var exp = expiresAt.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        return $"sp={sp}&exp={exp}&sig={ComputeSignature(sp, blob, exp)}";
    }

    /// <summary>
    /// Checks the query values of a signed URL for <paramref name="blob"/>. Any change of container, path, permission,
    /// expiry or signature gives Invalid; an authentic URL at or after its expiry gives Expired.
    /// </summary>
    public SignatureCheck Verify(BlobRef blob, string? sp, string? exp, string? sig, DateTimeOffset now)
    {
        if (sp is null || exp is null || sig is null || !IsSignable(blob) || !TryFromLetter(sp, out var permission))
        {
            return SignatureCheck.Invalid;
        }

        // Only the canonical form of the expiry is accepted ("0123" or "+123" would otherwise sign like "123").
        if (!long.TryParse(exp, NumberStyles.None, CultureInfo.InvariantCulture, out var expSeconds)
            || expSeconds.ToString(CultureInfo.InvariantCulture) != exp
            || expSeconds > DateTimeOffset.MaxValue.ToUnixTimeSeconds())
        {
            return SignatureCheck.Invalid;
        }

        // Comparing the encoded text (not decoded bytes) also rejects non-canonical base64url spellings.
        var expected = Encoding.ASCII.GetBytes(ComputeSignature(sp, blob, exp));
        var actual = Encoding.UTF8.GetBytes(sig);
        if (!CryptographicOperations.FixedTimeEquals(expected, actual))
        {
            return SignatureCheck.Invalid;
        }

        return now.ToUnixTimeSeconds() >= expSeconds ? SignatureCheck.Expired : new SignatureCheck(SignatureStatus.Valid, permission);
    }

    /// <summary>r, w, a or c.</summary>
    public static string ToLetter(BlobPermission permission) => permission switch
    {
        BlobPermission.Read => "r",
        BlobPermission.Write => "w",
        BlobPermission.Append => "a",
        BlobPermission.Create => "c",
        _ => throw new ArgumentOutOfRangeException(nameof(permission), permission, "Unknown blob permission."),
    };

    /// <summary>Parses r, w, a or c (exactly, lower case).</summary>
    public static bool TryFromLetter(string? letter, out BlobPermission permission)
    {
        switch (letter)
        {
            case "r": permission = BlobPermission.Read; return true;
            case "w": permission = BlobPermission.Write; return true;
            case "a": permission = BlobPermission.Append; return true;
            case "c": permission = BlobPermission.Create; return true;
            default: permission = default; return false;
        }
    }

    private string ComputeSignature(string sp, BlobRef blob, string exp)
    {
        var payload = Encoding.UTF8.GetBytes($"{sp}\n{blob.Container}\n{blob.Path}\n{exp}");
        return Base64Url.EncodeToString(HMACSHA256.HashData(_key, payload));
    }

    // '\n' separates the signed fields, so a field holding a control character could forge another field's boundary.
    private static bool IsSignable(BlobRef blob) =>
        !string.IsNullOrEmpty(blob.Container) && !string.IsNullOrEmpty(blob.Path)
        && !blob.Container.Any(char.IsControl) && !blob.Path.Any(char.IsControl);
}
