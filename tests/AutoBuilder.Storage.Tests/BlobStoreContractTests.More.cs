using System.Net;
using System.Text;
using AutoBuilder.Core.Storage;
using Microsoft.Extensions.Time.Testing;

namespace AutoBuilder.Storage.Tests;

/// <summary>Large-blob, failure and signed-URL parts of the contract.</summary>
public abstract partial class BlobStoreContractTests
{
    /// <summary>A second store over the same stored data whose clock is <paramref name="time"/> (to sign links that are already expired).</summary>
    protected abstract IBlobStore CreateStoreWithClock(TimeProvider time);

    /// <summary>GETs a signed URL the way its holder would (no API key) and returns the status and body.</summary>
    protected abstract Task<(HttpStatusCode Status, byte[] Body)> GetSignedAsync(Uri url);

    /// <summary>
    /// A PUT of <paramref name="body"/> to a signed link with no conditions of its own (a build that took the link may
    /// send any request): what the link allows decides; the status it answers.
    /// </summary>
    protected abstract Task<HttpStatusCode> PutSignedAsync(Uri url, byte[] body);

    /// <summary>What a Create-only link answers a PUT over an existing blob: 409 from AutoBuilder's /blobs endpoint.</summary>
    protected virtual HttpStatusCode CreateOverExistingStatus => HttpStatusCode.Conflict;

    private const int LargeBlobBytes = 20 * 1024 * 1024 + 5; // several blocks on a store that uploads in blocks

    [Fact]
    public async Task UploadAsync_RacingLargeConditionalCreates_ExactlyOneWinsWithItsWholeContent()
    {
        var blob = Blob("cache/large-key.tar.zst");
        var contents = new[] { Generated(LargeBlobBytes, 1), Generated(LargeBlobBytes, 2) };
        var arrived = 0;
        var allStreamed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task BothStreamed()
        {
            if (Interlocked.Increment(ref arrived) == contents.Length)
            {
                allStreamed.SetResult();
            }

            return allStreamed.Task;
        }

        var outcomes = await Task.WhenAll(contents.Select((content, i) => Task.Run(async () =>
        {
            try
            {
                var result = await Store.UploadAsync(blob, new TrickleStream(content, piece: 1024 * 1024, beforeEnd: BothStreamed), overwrite: false);
                return (Racer: i, Won: true, result.Sha256);
            }
            catch (BlobAlreadyExistsException)
            {
                return (Racer: i, Won: false, Sha256: "");
            }
        })));

        var winner = Assert.Single(outcomes, o => o.Won);
        await using var read = await Store.OpenReadAsync(blob);
        var (size, sha256) = await MeasureAsync(read);
        Assert.Equal(LargeBlobBytes, size);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(contents[winner.Racer])), sha256);
        Assert.Equal(winner.Sha256, sha256);
    }

    [Fact]
    public async Task UploadAsync_LargeStreamKilledHalfWay_LeavesNoBlob()
    {
        var blob = Blob("p/large-partial.zip");

        await Assert.ThrowsAsync<IOException>(() => Store.UploadAsync(blob, new FailingStream(LargeBlobBytes), overwrite: false));

        Assert.Null(await Store.GetPropertiesAsync(blob));
        await Assert.ThrowsAsync<BlobNotFoundException>(() => Store.OpenReadAsync(blob));
        Assert.Empty(await ListPathsAsync(Containers.Projects, ""));
        // The name is still free: a conditional create after the failed one succeeds.
        await UploadTextAsync(blob, "complete");
        Assert.Equal("complete", await ReadTextAsync(blob));
    }

    [Fact]
    public async Task UploadAsync_LargeOverwriteKilledHalfWay_KeepsPreviousContent()
    {
        var blob = Blob("p/large-result.zip");
        await UploadTextAsync(blob, "previous");

        await Assert.ThrowsAsync<IOException>(() => Store.UploadAsync(blob, new FailingStream(LargeBlobBytes), overwrite: true));

        Assert.Equal("previous", await ReadTextAsync(blob));
    }

    [Fact]
    public async Task GetPropertiesAsync_AfterLargeUpload_ReportsSizeAndNoOtherHashThanTheUploads()
    {
        var blob = Blob("p/large.bin");
        var uploaded = await Store.UploadAsync(blob, new GeneratedStream(LargeBlobBytes, seed: 3), overwrite: false);

        var properties = await Store.GetPropertiesAsync(blob);

        Assert.NotNull(properties);
        Assert.Equal(LargeBlobBytes, properties.Size);
        Assert.True(properties.Sha256 is null || properties.Sha256 == uploaded.Sha256);
    }

    [Fact]
    public async Task CopyAsync_OntoExistingTargetWithoutOverwrite_KeepsTargetEvenAfterManyTries()
    {
        var source = Blob("p/builds/1/artifacts/app.jar");
        var target = new BlobRef(Containers.Artifacts, "p/1.0.0/app.jar");
        await UploadTextAsync(source, "new build");
        await Store.UploadAsync(target, new MemoryStream("released"u8.ToArray()), overwrite: false);

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            try
            {
                await Store.CopyAsync(source, target, overwrite: false);
                return true;
            }
            catch (BlobAlreadyExistsException)
            {
                return false;
            }
        })));

        Assert.All(outcomes, Assert.False);
        Assert.Equal("released", await ReadTextAsync(target));
    }

    [Fact]
    public async Task ListAsync_ManyNamesDifferingInCaseDigitsAndSeparators_ReturnsOrdinalOrder()
    {
        // (No "p/a" next to "p/a/b": a filesystem cannot hold a file and a folder of one name.)
        string[] paths = ["p/b", "p/B", "p/a-b", "p/a.b", "p/a/b", "p/a0", "p/a_b", "p/10", "p/9", "p/a~"];
        foreach (var path in paths)
        {
            await UploadTextAsync(Blob(path), path);
        }

        var listed = await ListPathsAsync(Containers.Projects, "p/");

        Assert.Equal(paths.Order(StringComparer.Ordinal), listed);
    }

    [Fact]
    public async Task SignedUrl_Read_DownloadsTheBlobWithoutAnyOtherCredential()
    {
        var blob = Blob("p/builds/1/result.zip");
        await UploadTextAsync(blob, "the result");

        // Signed on a clock the test holds (a whole second near now, so the link is valid for the real verifier).
        var time = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds()));
        var signed = await CreateStoreWithClock(time).GetSignedUrlAsync(blob, BlobPermission.Read, TimeSpan.FromHours(1));
        var (status, body) = await GetSignedAsync(signed.Url);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("the result", Encoding.UTF8.GetString(body));
        Assert.Equal(time.GetUtcNow().AddHours(1), signed.ExpiresAt);
    }

    [Fact]
    public async Task SignedUrl_CreateOnly_NeverReplacesAnExistingBlob()
    {
        // The link a cache save gets: one archive, created once. A second PUT (a racing saver, or a build that kept the
        // link) must not swap what the catalog registered.
        var blob = new BlobRef(Containers.Cache, "p/maven/0123abcd.tar.gz");
        var signed = await Store.GetSignedUrlAsync(blob, BlobPermission.Create, TimeSpan.FromHours(1));

        Assert.Equal(HttpStatusCode.Created, await PutSignedAsync(signed.Url, "the first archive"u8.ToArray()));
        Assert.Equal(CreateOverExistingStatus, await PutSignedAsync(signed.Url, "a poisoned archive"u8.ToArray()));

        Assert.Equal("the first archive", await ReadTextAsync(blob));
    }

    [Fact]
    public async Task SignedUrl_CreateOnly_OverABlobThatExistedBefore_IsRefusedAndLeavesIt()
    {
        var blob = new BlobRef(Containers.Cache, "p/npm/4567ef.tar.gz");
        await UploadTextAsync(blob, "registered content");
        var signed = await Store.GetSignedUrlAsync(blob, BlobPermission.Create, TimeSpan.FromHours(1));

        Assert.Equal(CreateOverExistingStatus, await PutSignedAsync(signed.Url, "replacement"u8.ToArray()));

        Assert.Equal("registered content", await ReadTextAsync(blob));
        Assert.Equal(Encoding.UTF8.GetByteCount("registered content"), (await Store.GetPropertiesAsync(blob))?.Size);
    }

    [Fact]
    public async Task SignedUrl_TamperedSignature_IsRefusedWith403()
    {
        var blob = Blob("p/builds/1/result.zip");
        await UploadTextAsync(blob, "the result");
        var signed = await Store.GetSignedUrlAsync(blob, BlobPermission.Read, TimeSpan.FromHours(1));

        var (status, body) = await GetSignedAsync(TamperSignature(signed.Url));

        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.DoesNotContain("the result", Encoding.UTF8.GetString(body), StringComparison.Ordinal);
    }

    [Fact]
    public async Task SignedUrl_ForOneBlob_DoesNotOpenAnother()
    {
        var mine = Blob("p/builds/1/result.zip");
        var other = Blob("p/builds/2/result.zip");
        await UploadTextAsync(mine, "mine");
        await UploadTextAsync(other, "someone else's");
        var signed = await Store.GetSignedUrlAsync(mine, BlobPermission.Read, TimeSpan.FromHours(1));

        var redirected = new Uri(signed.Url.AbsoluteUri.Replace("/builds/1/", "/builds/2/", StringComparison.Ordinal));
        var (status, _) = await GetSignedAsync(redirected);

        Assert.Equal(HttpStatusCode.Forbidden, status);
    }

    [Fact]
    public async Task SignedUrl_Expired_IsRefusedWith403()
    {
        var blob = Blob("p/builds/1/result.zip");
        await UploadTextAsync(blob, "the result");
        var twoHoursAgo = new FakeTimeProvider(DateTimeOffset.UtcNow.AddHours(-2));
        var signed = await CreateStoreWithClock(twoHoursAgo).GetSignedUrlAsync(blob, BlobPermission.Read, TimeSpan.FromHours(1));
        Assert.True(signed.ExpiresAt < DateTimeOffset.UtcNow);

        var (status, _) = await GetSignedAsync(signed.Url);

        Assert.Equal(HttpStatusCode.Forbidden, status);
    }

    private static Uri TamperSignature(Uri url)
    {
        var builder = new UriBuilder(url);
        var parts = builder.Query.TrimStart('?').Split('&');
        var index = Array.FindIndex(parts, p => p.StartsWith("sig=", StringComparison.Ordinal));
        Assert.True(index >= 0, $"no sig= in {url}");
        var value = Uri.UnescapeDataString(parts[index][4..]);
        // Change one character of the signature to another valid one of the same alphabet.
        var first = value[0] == 'A' ? 'B' : 'A';
        parts[index] = "sig=" + Uri.EscapeDataString(first + value[1..]);
        builder.Query = string.Join('&', parts);
        return builder.Uri;
    }

    private static byte[] Generated(int length, ulong seed)
    {
        var bytes = new byte[length];
        using var stream = new GeneratedStream(length, seed);
        stream.ReadExactly(bytes);
        return bytes;
    }
}
