using AutoBuilder.Core.Storage;
using Microsoft.Extensions.Time.Testing;

namespace AutoBuilder.Storage.Tests;

public sealed class BlobUrlSignerTests
{
    private static readonly BlobRef Blob = new("projects", "p/builds/1/logs/build.log");
    private readonly BlobUrlSigner _signer = new(TempFolder.Key);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero));

    [Theory]
    [InlineData(BlobPermission.Read, "r")]
    [InlineData(BlobPermission.Write, "w")]
    [InlineData(BlobPermission.Append, "a")]
    public void Sign_ThenVerify_IsValidWithThatPermission(BlobPermission permission, string letter)
    {
        var query = Parse(_signer.Sign(Blob, permission, _time.GetUtcNow().AddMinutes(10)));

        Assert.Equal(letter, query["sp"]);
        Assert.Equal(new SignatureCheck(SignatureStatus.Valid, permission), _signer.Verify(Blob, query["sp"], query["exp"], query["sig"], _time.GetUtcNow()));
    }

    [Fact]
    public void Sign_Signature_IsUnpaddedBase64UrlOfHmacSha256()
    {
        var query = Parse(_signer.Sign(Blob, BlobPermission.Append, DateTimeOffset.FromUnixTimeSeconds(1_800_000_000)));

        var payload = System.Text.Encoding.UTF8.GetBytes("a\nprojects\np/builds/1/logs/build.log\n1800000000");
        var expected = Convert.ToBase64String(System.Security.Cryptography.HMACSHA256.HashData(TempFolder.Key, payload))
            .TrimEnd('=').Replace('+', '-').Replace('/', '_');
        Assert.Equal("1800000000", query["exp"]);
        Assert.Equal(expected, query["sig"]);
    }

    public static TheoryData<string, BlobRef, string?, string?, string?> Tampered()
    {
        var signer = new BlobUrlSigner(TempFolder.Key);
        var q = Parse(signer.Sign(Blob, BlobPermission.Read, new DateTimeOffset(2026, 11, 25, 11, 0, 0, TimeSpan.Zero)));
        string sp = q["sp"]!, exp = q["exp"]!, sig = q["sig"]!;
        var flipped = (sig[5] == 'A' ? 'B' : 'A') + "";
        return new()
        {
            { "other path", Blob with { Path = "p/builds/1/logs/build.lo" }, sp, exp, sig },
            { "other build", Blob with { Path = "p/builds/2/logs/build.log" }, sp, exp, sig },
            { "other container", Blob with { Container = "artifacts" }, sp, exp, sig },
            { "write instead of read", Blob, "w", exp, sig },
            { "append instead of read", Blob, "a", exp, sig },
            { "unknown permission", Blob, "x", exp, sig },
            { "upper-case permission", Blob, "R", exp, sig },
            { "later expiry", Blob, sp, (long.Parse(exp, System.Globalization.CultureInfo.InvariantCulture) + 3600).ToString(System.Globalization.CultureInfo.InvariantCulture), sig },
            { "expiry with leading zero", Blob, sp, "0" + exp, sig },
            { "expiry with plus sign", Blob, sp, "+" + exp, sig },
            { "garbled expiry", Blob, sp, "tomorrow", sig },
            { "huge expiry", Blob, sp, "99999999999999999999", sig },
            { "one signature character changed", Blob, sp, exp, sig[..5] + flipped + sig[6..] },
            { "truncated signature", Blob, sp, exp, sig[..^1] },
            { "padded signature", Blob, sp, exp, sig + "=" },
            { "signature of another blob", Blob, sp, exp, Parse(signer.Sign(Blob with { Path = "x" }, BlobPermission.Read, DateTimeOffset.FromUnixTimeSeconds(long.Parse(exp, System.Globalization.CultureInfo.InvariantCulture))))["sig"] },
            { "garbled signature", Blob, sp, exp, "not base64url!" },
            { "missing permission", Blob, null, exp, sig },
            { "missing expiry", Blob, sp, null, sig },
            { "missing signature", Blob, sp, exp, null },
            { "empty signature", Blob, sp, exp, "" },
        };
    }

    [Theory]
    [MemberData(nameof(Tampered))]
    public void Verify_AnyTamperedPart_IsInvalid(string tamper, BlobRef blob, string? sp, string? exp, string? sig)
    {
        var check = _signer.Verify(blob, sp, exp, sig, _time.GetUtcNow());

        Assert.True(check == SignatureCheck.Invalid, $"{tamper}: {check}");
        Assert.Null(check.Permission);
    }

    [Fact]
    public void Verify_SignedWithAnotherKey_IsInvalid()
    {
        var other = new BlobUrlSigner([.. Enumerable.Repeat((byte)9, 32)]);
        var query = Parse(other.Sign(Blob, BlobPermission.Read, _time.GetUtcNow().AddHours(1)));

        Assert.Equal(SignatureStatus.Invalid, _signer.Verify(Blob, query["sp"], query["exp"], query["sig"], _time.GetUtcNow()).Status);
    }

    [Fact]
    public void Verify_AtAndAfterExpiry_IsExpired()
    {
        var query = Parse(_signer.Sign(Blob, BlobPermission.Write, _time.GetUtcNow().AddMinutes(10)));
        SignatureStatus StatusNow() => _signer.Verify(Blob, query["sp"], query["exp"], query["sig"], _time.GetUtcNow()).Status;

        _time.Advance(TimeSpan.FromMinutes(10) - TimeSpan.FromSeconds(1));
        Assert.Equal(SignatureStatus.Valid, StatusNow());
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(SignatureStatus.Expired, StatusNow());
        _time.Advance(TimeSpan.FromDays(30));
        Assert.Equal(SignatureStatus.Expired, StatusNow());
    }

    [Fact]
    public void Verify_ExpiredAndTampered_IsInvalid()
    {
        var query = Parse(_signer.Sign(Blob, BlobPermission.Read, _time.GetUtcNow().AddMinutes(1)));
        _time.Advance(TimeSpan.FromHours(1));

        Assert.Equal(SignatureStatus.Invalid, _signer.Verify(Blob, "w", query["exp"], query["sig"], _time.GetUtcNow()).Status);
    }

    [Fact]
    public void GetSignedUrl_FromStoreWithFakeTime_ExpiresAfterItsLifetime()
    {
        using var folder = new TempFolder();
        var store = new FileSystemBlobStore(TempFolder.Options(folder.Path), _time);
        var blob = new BlobRef("projects", "p/builds/1/result.zip");
        var signed = store.GetSignedUrl(blob, BlobPermission.Read, TimeSpan.FromHours(1));
        var query = System.Web.HttpUtility.ParseQueryString(signed.Url.Query);

        _time.Advance(TimeSpan.FromMinutes(59));
        Assert.True(store.Signer.Verify(blob, query["sp"], query["exp"], query["sig"], _time.GetUtcNow()).IsValid);
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(SignatureStatus.Expired, store.Signer.Verify(blob, query["sp"], query["exp"], query["sig"], _time.GetUtcNow()).Status);
        Assert.Equal(_time.GetUtcNow(), signed.ExpiresAt);
    }

    [Fact]
    public void Sign_BlobWithControlCharacter_Throws()
    {
        Assert.Throws<ArgumentException>(() => _signer.Sign(new BlobRef("projects", "a\nb"), BlobPermission.Read, _time.GetUtcNow()));
    }

    [Fact]
    public void Constructor_KeyShorterThan32Bytes_Throws()
    {
        var error = Assert.Throws<ArgumentException>(() => new BlobUrlSigner(new byte[31]));

        Assert.Contains("32 bytes", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("r", BlobPermission.Read)]
    [InlineData("w", BlobPermission.Write)]
    [InlineData("a", BlobPermission.Append)]
    public void PermissionLetters_RoundTrip(string letter, BlobPermission permission)
    {
        Assert.Equal(letter, BlobUrlSigner.ToLetter(permission));
        Assert.True(BlobUrlSigner.TryFromLetter(letter, out var parsed));
        Assert.Equal(permission, parsed);
    }

    private static System.Collections.Specialized.NameValueCollection Parse(string query) => System.Web.HttpUtility.ParseQueryString(query);
}
