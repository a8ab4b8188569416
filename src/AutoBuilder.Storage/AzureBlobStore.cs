using System.Buffers;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using AutoBuilder.Core.Storage;
using Azure;
using Azure.Core;
using Azure.Identity;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using Azure.Storage.Sas;
using BlobItem = AutoBuilder.Core.Storage.BlobItem;
using BlobProperties = AutoBuilder.Core.Storage.BlobProperties;

namespace AutoBuilder.Storage;

/// <summary>
/// <see cref="IBlobStore"/> on Azure Blob Storage. Whole blobs are block blobs: the content is staged in blocks (several in
/// flight, bounded memory) and becomes visible only when the block list is committed, with <c>If-None-Match: *</c> for
/// conditional create and the SHA-256 measured while streaming stored in the blob's metadata. Logs are append blobs.
/// Signed URLs are SAS URLs: service SAS with the account key, else user-delegation SAS through the token credential.
/// </summary>
public sealed class AzureBlobStore : IBlobStore
{
    /// <summary>Metadata key of the content hash (lower-case hex SHA-256) measured while uploading.</summary>
    public const string Sha256MetadataKey = BlobMetadata.Sha256;

    private const int BlockSize = 8 * 1024 * 1024;
    private const int MaxBlocksInFlight = 4; // ≤ 32 MiB buffered per upload.
    private const int AppendChunkSize = 4 * 1024 * 1024; // the Append Block limit of every service version

    // A user-delegation key is fetched for at least this long and renewed when a link would outlive it.
    private static readonly TimeSpan DelegationKeyLifetime = TimeSpan.FromHours(12);
    private static readonly TimeSpan MaxDelegationKeyLifetime = TimeSpan.FromDays(7);

    private readonly BlobServiceClient _service;
    private readonly BlobServiceClient _probe;
    private readonly ConfiguredContainers _containers;
    private readonly TimeProvider _timeProvider;
    private readonly SemaphoreSlim _delegationKeyLock = new(1, 1);
    private UserDelegationKey? _delegationKey;

    public AzureBlobStore(AzureBlobStoreOptions options, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        options.Validate();
        _timeProvider = timeProvider;
        _containers = new ConfiguredContainers(options.Containers);
        _service = CreateClient(options, ClientOptions(options.Retry));
        // /readyz must answer quickly: one try.
        _probe = CreateClient(options, ClientOptions(options.Retry with { MaxRetries = 0 }));
    }

    /// <summary>The blob endpoint, e.g. https://account.blob.core.windows.net/ (signed URLs point here).</summary>
    public Uri ServiceUri => _service.Uri;

    /// <summary>True when signed URLs are service SAS (account key); false when they are user-delegation SAS.</summary>
    public bool SignsWithAccountKey => _service.CanGenerateAccountSasUri;

    public BlobUrlProtocol UrlProtocol => BlobUrlProtocol.AzureBlob;

    /// <summary>The SDK's client options for AutoBuilder: its own exponential retries of transient failures, with a network timeout.</summary>
    public static BlobClientOptions ClientOptions(BlobRetrySettings retry)
    {
        ArgumentNullException.ThrowIfNull(retry);
        var client = new BlobClientOptions();
        client.Retry.Mode = RetryMode.Exponential;
        client.Retry.MaxRetries = retry.MaxRetries;
        client.Retry.Delay = retry.Delay;
        client.Retry.MaxDelay = retry.MaxDelay;
        client.Retry.NetworkTimeout = retry.NetworkTimeout;
        return client;
    }

    private static BlobServiceClient CreateClient(AzureBlobStoreOptions options, BlobClientOptions clientOptions)
    {
        if (!string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            return new BlobServiceClient(options.ConnectionString, clientOptions);
        }

        var uri = options.ServiceUri ?? new Uri($"https://{options.AccountName}.blob.core.windows.net/");
        return new BlobServiceClient(uri, options.Credential ?? new DefaultAzureCredential(), clientOptions);
    }

    /// <exception cref="InvalidOperationException">The account cannot be reached or refuses the credential.</exception>
    public async Task InitializeAsync(CancellationToken cancellationToken = default)
    {
        foreach (var container in _containers)
        {
            try
            {
                await _service.GetBlobContainerClient(container).CreateIfNotExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is RequestFailedException or AuthenticationFailedException or AggregateException or HttpRequestException)
            {
                throw new InvalidOperationException(
                    $"Azure Blob storage at {_service.Uri} could not create container '{container}': {FirstLine(e.Message)}", e);
            }
        }
    }

    private static string FirstLine(string message) => message.Split('\n', 2)[0].Trim();

    public async Task<bool> IsReachableAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            foreach (var container in _containers)
            {
                if (!await _probe.GetBlobContainerClient(container).ExistsAsync(cancellationToken).ConfigureAwait(false))
                {
                    return false;
                }
            }

            return true;
        }
        catch (Exception e) when (e is RequestFailedException or HttpRequestException or AuthenticationFailedException or AggregateException or TimeoutException)
        {
            return false;
        }
    }

    private async Task<Stream> OpenReadCoreAsync(BlobRef blob, long offset, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        var client = Client(blob);
        try
        {
            // A streamed GET from the offset; the SDK resumes it from where it broke on a network failure.
            var response = await client.DownloadStreamingAsync(new BlobDownloadOptions { Range = new HttpRange(offset) }, cancellationToken).ConfigureAwait(false);
            return response.Value.Content;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw new BlobNotFoundException(blob);
        }
        catch (RequestFailedException e) when (e.Status == 416)
        {
            // The offset is at or past the end (the filesystem store reads nothing there too).
            return await GetPropertiesAsync(blob, cancellationToken).ConfigureAwait(false) is null
                ? throw new BlobNotFoundException(blob)
                : new MemoryStream([], writable: false);
        }
    }

    private async Task<BlobUploadResult> UploadCoreAsync(BlobRef blob, Stream content, bool overwrite, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(content);
        var client = Container(blob).GetBlockBlobClient(blob.Path);
        if (!overwrite && await client.ExistsAsync(cancellationToken).ConfigureAwait(false))
        {
            throw new BlobAlreadyExistsException(blob); // cheap early answer; the commit's condition is what decides
        }

        var conditions = overwrite ? null : new BlobRequestConditions { IfNoneMatch = ETag.All };
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(BlockSize);
        var handedOver = false;
        int read;
        try
        {
            read = await ReadBlockAsync(content, buffer, cancellationToken).ConfigureAwait(false);
            if (read < BlockSize)
            {
                // Small blob: one Put Blob, visible only when complete.
                hash.AppendData(buffer, 0, read);
                var sha256 = Convert.ToHexStringLower(hash.GetHashAndReset());
                try
                {
                    using var body = new MemoryStream(buffer, 0, read, writable: false);
                    await Conditional(blob, overwrite, () => client.UploadAsync(body, new BlobUploadOptions
                    {
                        Metadata = Metadata(sha256),
                        Conditions = conditions,
                    }, cancellationToken)).ConfigureAwait(false);
                    return new BlobUploadResult(read, sha256);
                }
                catch (BlobAlreadyExistsException)
                {
                    if (await GetPropertiesAsync(blob, cancellationToken).ConfigureAwait(false) is not null)
                    {
                        throw;
                    }

                    // Nothing visible holds the name: the 409 came from the staged blocks of an upload that died
                    // (Azurite counts such an uncommitted blob for Put Blob's If-None-Match). A block commit's
                    // condition looks at committed blobs only, so the create goes on as one block.
                }
            }

            handedOver = true; // the block upload returns it to the pool
        }
        finally
        {
            if (!handedOver)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        return await UploadBlocksAsync(blob, client, content, buffer, read, hash, conditions, overwrite, cancellationToken).ConfigureAwait(false);
    }

    public Task<Stream> OpenReadAsync(BlobRef blob, long offset = 0, CancellationToken cancellationToken = default) =>
        Guard($"reading {blob}", () => OpenReadCoreAsync(blob, offset, cancellationToken));

    public Task<BlobUploadResult> UploadAsync(BlobRef blob, Stream content, bool overwrite, CancellationToken cancellationToken = default) =>
        Guard($"uploading {blob}", () => UploadCoreAsync(blob, content, overwrite, cancellationToken));

    public Task<long> AppendAsync(BlobRef blob, Stream content, CancellationToken cancellationToken = default) =>
        Guard($"appending to {blob}", () => AppendCoreAsync(blob, content, cancellationToken));

    public Task<BlobProperties?> GetPropertiesAsync(BlobRef blob, CancellationToken cancellationToken = default) =>
        Guard($"reading the properties of {blob}", () => GetPropertiesCoreAsync(blob, cancellationToken));

    public Task CopyAsync(BlobRef source, BlobRef target, bool overwrite, CancellationToken cancellationToken = default) =>
        Guard($"copying {source} to {target}", () => CopyCoreAsync(source, target, overwrite, cancellationToken));

    public Task<bool> DeleteAsync(BlobRef blob, CancellationToken cancellationToken = default) =>
        Guard($"deleting {blob}", () => DeleteCoreAsync(blob, cancellationToken));

    public async ValueTask<SignedUrl> GetSignedUrlAsync(BlobRef blob, BlobPermission permission, TimeSpan lifetime, CancellationToken cancellationToken = default) =>
        await Guard($"signing a link to {blob}", () => GetSignedUrlCoreAsync(blob, permission, lifetime, cancellationToken)).ConfigureAwait(false);

    /// <summary>
    /// Runs one operation; a storage failure that outlasted the SDK's retries becomes a <see cref="BlobStorageException"/>
    /// (an <see cref="IOException"/>, as on the filesystem store) that names the storage error.
    /// </summary>
    private static async Task<T> Guard<T>(string what, Func<Task<T>> operation)
    {
        try
        {
            return await operation().ConfigureAwait(false);
        }
        catch (Exception e) when (IsStorageFailure(e))
        {
            throw StorageFailure(what, e);
        }
    }

    private static bool IsStorageFailure(Exception e) =>
        e is RequestFailedException or AggregateException or HttpRequestException or AuthenticationFailedException;

    private static BlobStorageException StorageFailure(string what, Exception e)
    {
        var detail = e switch
        {
            RequestFailedException failed => $"HTTP {failed.Status} {failed.ErrorCode}".TrimEnd(),
            AggregateException aggregate => $"{FirstLine(aggregate.InnerExceptions[^1].Message)} (after {aggregate.InnerExceptions.Count} tries)",
            _ => FirstLine(e.Message),
        };
        return new BlobStorageException($"Azure Blob Storage: {what} failed: {detail}", e);
    }

    /// <summary>Stages the content block by block (up to <see cref="MaxBlocksInFlight"/> at once), then commits the list.</summary>
    private async Task<BlobUploadResult> UploadBlocksAsync(
        BlobRef blob, BlockBlobClient client, Stream content, byte[] first, int firstLength, IncrementalHash hash,
        BlobRequestConditions? conditions, bool overwrite, CancellationToken cancellationToken)
    {
        // Ids are unique per upload, so two racing uploads to one blob never stage into each other's blocks.
        var uploadId = Guid.NewGuid().ToString("N");
        var blockIds = new List<string>();
        var inFlight = new List<Task>();
        using var abort = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        long size = 0;
        try
        {
            byte[] buffer = first;
            var length = firstLength;
            while (true)
            {
                hash.AppendData(buffer, 0, length);
                size += length;
                var blockId = Convert.ToBase64String(Encoding.ASCII.GetBytes($"{uploadId}-{blockIds.Count:D6}"));
                blockIds.Add(blockId);
                inFlight.Add(StageAsync(client, blockId, buffer, length, abort.Token));

                if (inFlight.Count >= MaxBlocksInFlight)
                {
                    var done = await Task.WhenAny(inFlight).ConfigureAwait(false);
                    inFlight.Remove(done);
                    await done.ConfigureAwait(false); // rethrows a failed block
                }

                if (length < BlockSize)
                {
                    break; // that was the last, short block
                }

                buffer = ArrayPool<byte>.Shared.Rent(BlockSize);
                try
                {
                    length = await ReadBlockAsync(content, buffer, cancellationToken).ConfigureAwait(false);
                }
                catch
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    throw;
                }

                if (length == 0)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    break;
                }
            }

            await Task.WhenAll(inFlight).ConfigureAwait(false);
            inFlight.Clear();
            cancellationToken.ThrowIfCancellationRequested();

            var sha256 = Convert.ToHexStringLower(hash.GetHashAndReset());
            await Conditional(blob, overwrite, () => client.CommitBlockListAsync(blockIds, new CommitBlockListOptions
            {
                Metadata = Metadata(sha256),
                Conditions = conditions,
            }, cancellationToken)).ConfigureAwait(false);
            return new BlobUploadResult(size, sha256);
        }
        catch
        {
            // Nothing was committed, so nothing is visible; the staged blocks expire on their own (after 7 days).
            await abort.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(inFlight).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            throw;
        }
    }

    private static async Task StageAsync(BlockBlobClient client, string blockId, byte[] buffer, int length, CancellationToken cancellationToken)
    {
        try
        {
            using var block = new MemoryStream(buffer, 0, length, writable: false);
            await client.StageBlockAsync(blockId, block, new BlockBlobStageBlockOptions(), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Runs a write whose condition may fail; a lost conditional create becomes <see cref="BlobAlreadyExistsException"/>.</summary>
    private async Task Conditional<T>(BlobRef blob, bool overwrite, Func<Task<T>> write)
    {
        try
        {
            await write().ConfigureAwait(false);
        }
        catch (RequestFailedException e) when (!overwrite && (e.Status is 409 or 412 || e.ErrorCode == "InvalidBlockList"))
        {
            // 409/412: another writer created the blob first. InvalidBlockList: its commit discarded our staged blocks.
            if (e.Status is 409 or 412 || await GetPropertiesAsync(blob).ConfigureAwait(false) is not null)
            {
                throw new BlobAlreadyExistsException(blob);
            }

            throw;
        }
    }

    /// <inheritdoc />
    /// <remarks>Uploads the file, then deletes it; when the upload fails the file is left where it was.</remarks>
    public async Task<BlobUploadResult> ImportFileAsync(BlobRef blob, string localPath, bool overwrite, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(localPath);
        var source = Path.GetFullPath(localPath);
        if (!File.Exists(source))
        {
            throw new FileNotFoundException($"The file to import into blob '{blob}' does not exist.", source);
        }

        BlobUploadResult result;
        var file = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read, 0, FileOptions.Asynchronous | FileOptions.SequentialScan);
        await using (file.ConfigureAwait(false))
        {
            result = await UploadAsync(blob, file, overwrite, cancellationToken).ConfigureAwait(false);
        }

        File.Delete(source);
        return result;
    }

    private async Task<long> AppendCoreAsync(BlobRef blob, Stream content, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(content);
        var client = Container(blob).GetAppendBlobClient(blob.Path);
        await client.CreateIfNotExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        var buffer = ArrayPool<byte>.Shared.Rent(AppendChunkSize);
        try
        {
            long? length = null;
            int read;
            while ((read = await ReadBlockAsync(content, buffer, AppendChunkSize, cancellationToken).ConfigureAwait(false)) > 0)
            {
                using var chunk = new MemoryStream(buffer, 0, read, writable: false);
                var appended = await client.AppendBlockAsync(chunk, cancellationToken: cancellationToken).ConfigureAwait(false);
                length = long.Parse(appended.Value.BlobAppendOffset, System.Globalization.CultureInfo.InvariantCulture) + read;
                if (read < AppendChunkSize)
                {
                    break;
                }
            }

            return length ?? (await client.GetPropertiesAsync(cancellationToken: cancellationToken).ConfigureAwait(false)).Value.ContentLength;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task<BlobProperties?> GetPropertiesCoreAsync(BlobRef blob, CancellationToken cancellationToken)
    {
        try
        {
            var properties = (await Client(blob).GetPropertiesAsync(cancellationToken: cancellationToken).ConfigureAwait(false)).Value;
            return new BlobProperties(
                properties.ContentLength,
                properties.LastModified,
                properties.Metadata.TryGetValue(Sha256MetadataKey, out var sha256) ? sha256 : null);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    public IAsyncEnumerable<BlobItem> ListAsync(string container, string prefix, CancellationToken cancellationToken = default)
    {
        var client = ContainerClient(container);
        prefix = BlobPath.RequirePrefix(prefix, nameof(prefix));

        return Guarded($"listing {container}/{prefix}", ListCore(client, container, prefix, cancellationToken), cancellationToken);
    }

    private static async IAsyncEnumerable<BlobItem> Guarded(string what, IAsyncEnumerable<BlobItem> items, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var enumerator = items.GetAsyncEnumerator(cancellationToken);
        await using (enumerator.ConfigureAwait(false))
        {
            while (true)
            {
                try
                {
                    if (!await enumerator.MoveNextAsync().ConfigureAwait(false))
                    {
                        yield break;
                    }
                }
                catch (Exception e) when (IsStorageFailure(e))
                {
                    throw StorageFailure(what, e);
                }

                yield return enumerator.Current;
            }
        }
    }

    private static async IAsyncEnumerable<BlobItem> ListCore(BlobContainerClient client, string container, string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // The service lists in lexicographic name order, which for blob paths is ordinal order.
        await foreach (var item in client.GetBlobsAsync(new GetBlobsOptions { Prefix = prefix.Length == 0 ? null : prefix }, cancellationToken).ConfigureAwait(false))
        {
            yield return new BlobItem(new BlobRef(container, item.Name), item.Properties.ContentLength ?? 0, item.Properties.LastModified ?? DateTimeOffset.MinValue);
        }
    }

    /// <summary>Server-side copy (the data never leaves the storage account); waits until the copy is complete.</summary>
    private async Task<bool> CopyCoreAsync(BlobRef source, BlobRef target, bool overwrite, CancellationToken cancellationToken)
    {
        var from = Client(source);
        var to = Client(target);
        try
        {
            var operation = await to.StartCopyFromUriAsync(from.Uri, new BlobCopyFromUriOptions
            {
                DestinationConditions = overwrite ? null : new BlobRequestConditions { IfNoneMatch = ETag.All },
            }, cancellationToken).ConfigureAwait(false);
            await operation.WaitForCompletionAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (RequestFailedException e) when (e.Status == 404 || e.ErrorCode is "CannotVerifyCopySource" or "BlobNotFound")
        {
            throw new BlobNotFoundException(source);
        }
        catch (RequestFailedException e) when (!overwrite && e.Status is 409 or 412)
        {
            throw new BlobAlreadyExistsException(target);
        }
    }

    private async Task<bool> DeleteCoreAsync(BlobRef blob, CancellationToken cancellationToken)
    {
        var deleted = await Client(blob).DeleteIfExistsAsync(DeleteSnapshotsOption.IncludeSnapshots, cancellationToken: cancellationToken).ConfigureAwait(false);
        return deleted.Value;
    }

    private async Task<SignedUrl> GetSignedUrlCoreAsync(BlobRef blob, BlobPermission permission, TimeSpan lifetime, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(lifetime, TimeSpan.Zero);
        var client = Client(blob);

        // SAS times are whole seconds; report exactly the moment the URL encodes.
        var expiresAt = DateTimeOffset.FromUnixTimeSeconds((_timeProvider.GetUtcNow() + lifetime).ToUnixTimeSeconds());
        var sas = new BlobSasBuilder(Permissions(permission), expiresAt)
        {
            BlobContainerName = blob.Container,
            BlobName = blob.Path,
            Resource = "b",
            Protocol = client.Uri.Scheme == Uri.UriSchemeHttps ? SasProtocol.Https : SasProtocol.HttpsAndHttp,
        };

        if (client.CanGenerateSasUri)
        {
            return new SignedUrl(client.GenerateSasUri(sas), expiresAt);
        }

        var key = await GetDelegationKeyAsync(expiresAt, cancellationToken).ConfigureAwait(false);
        var url = new BlobUriBuilder(client.Uri) { Sas = sas.ToSasQueryParameters(key, _service.AccountName) }.ToUri();
        return new SignedUrl(url, expiresAt);
    }

    /// <summary>Write: create or replace the one blob. Append: create the append blob when missing and append to it.</summary>
    private static BlobSasPermissions Permissions(BlobPermission permission) => permission switch
    {
        BlobPermission.Read => BlobSasPermissions.Read,
        BlobPermission.Write => BlobSasPermissions.Create | BlobSasPermissions.Write,
        BlobPermission.Append => BlobSasPermissions.Create | BlobSasPermissions.Add,
        // Create alone may not touch an existing blob; the runner also sends If-None-Match: * with its commit.
        BlobPermission.Create => BlobSasPermissions.Create,
        _ => throw new ArgumentOutOfRangeException(nameof(permission)),
    };

    /// <summary>The cached user-delegation key, fetched again when a link would outlive it.</summary>
    private async ValueTask<UserDelegationKey> GetDelegationKeyAsync(DateTimeOffset neededUntil, CancellationToken cancellationToken)
    {
        if (_delegationKey is { } cached && cached.SignedExpiresOn >= neededUntil)
        {
            return cached;
        }

        await _delegationKeyLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_delegationKey is { } current && current.SignedExpiresOn >= neededUntil)
            {
                return current;
            }

            var now = _timeProvider.GetUtcNow();
            var wanted = neededUntil + DelegationKeyLifetime;
            var expires = wanted - now > MaxDelegationKeyLifetime ? now + MaxDelegationKeyLifetime : wanted;
            if (expires < neededUntil)
            {
                throw new ArgumentOutOfRangeException(nameof(neededUntil), $"A user-delegation SAS cannot outlive its key, which lasts at most {MaxDelegationKeyLifetime.TotalDays} days.");
            }

            // Starts a little in the past so a clock a few minutes ahead of the service's still accepts it.
            var options = new BlobGetUserDelegationKeyOptions(expires) { StartsOn = now - TimeSpan.FromMinutes(5) };
            var key = (await _service.GetUserDelegationKeyAsync(options, cancellationToken).ConfigureAwait(false)).Value;
            _delegationKey = key;
            return key;
        }
        finally
        {
            _delegationKeyLock.Release();
        }
    }

    private static Dictionary<string, string> Metadata(string sha256) => new(StringComparer.Ordinal) { [Sha256MetadataKey] = sha256 };

    private static Task<int> ReadBlockAsync(Stream content, byte[] buffer, CancellationToken cancellationToken) =>
        ReadBlockAsync(content, buffer, BlockSize, cancellationToken);

    /// <summary>Fills the buffer up to <paramref name="size"/> bytes; fewer only at the end of the stream.</summary>
    private static async Task<int> ReadBlockAsync(Stream content, byte[] buffer, int size, CancellationToken cancellationToken)
    {
        var total = 0;
        int read;
        while (total < size && (read = await content.ReadAsync(buffer.AsMemory(total, size - total), cancellationToken).ConfigureAwait(false)) > 0)
        {
            total += read;
        }

        return total;
    }

    private BlobClient Client(BlobRef blob) => Container(blob).GetBlobClient(blob.Path);

    /// <summary>The client of a checked blob's container: every blob operation passes here first.</summary>
    private BlobContainerClient Container(BlobRef blob) => ContainerClient(_containers.Require(blob).Container);

    private BlobContainerClient ContainerClient(string container) => _service.GetBlobContainerClient(_containers.Require(container));
}
