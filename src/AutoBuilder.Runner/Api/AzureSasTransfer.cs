using AutoBuilder.Core.Storage;
using Azure;
using Azure.Core;
using Azure.Storage;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;

namespace AutoBuilder.Runner.Api;

/// <summary>
/// <see cref="BlobUrlProtocol.AzureBlob"/>: the runner's data transfers for Azure Blob SAS URLs, through the Azure SDK:
/// downloads and uploads in parallel blocks (an upload becomes visible only when its block list is committed), log
/// appends as Append Block on an append blob.
/// The SDK retries transient failures with <see cref="BlobRetrySettings.Default"/>, the settings the server's Azure store
/// starts from; what still fails is reported as a <see cref="RunnerStoppedException"/> naming the storage error, an
/// infrastructure failure the dispatcher retries.
/// </summary>
internal sealed class AzureSasTransfer : ISignedUrlTransfer
{
    private const int BlockSize = 8 * 1024 * 1024;

    private static readonly StorageTransferOptions Transfer = new()
    {
        InitialTransferSize = BlockSize,
        MaximumTransferSize = BlockSize,
        MaximumConcurrency = 4,
    };

    private readonly BlobClientOptions _options;
    private AppendBlobClient? _log;

    public AzureSasTransfer(BlobClientOptions? options = null)
    {
        _options = options ?? DefaultOptions();
    }

    /// <summary>The SDK's own exponential retries of transient failures, with a network timeout.</summary>
    public static BlobClientOptions DefaultOptions()
    {
        var retry = BlobRetrySettings.Default;
        var options = new BlobClientOptions();
        options.Retry.Mode = RetryMode.Exponential;
        options.Retry.MaxRetries = retry.MaxRetries;
        options.Retry.Delay = retry.Delay;
        options.Retry.MaxDelay = retry.MaxDelay;
        options.Retry.NetworkTimeout = retry.NetworkTimeout;
        return options;
    }

    public Task DownloadAsync(Uri sasUrl, string path, string what, CancellationToken cancellationToken) =>
        Run(what, () => new BlobClient(sasUrl, _options).DownloadToAsync(path, new BlobDownloadToOptions { TransferOptions = Transfer }, cancellationToken));

    public Task UploadFileAsync(Uri sasUrl, string path, string what, CancellationToken cancellationToken) =>
        Run(what, () => new BlobClient(sasUrl, _options).UploadAsync(path, new BlobUploadOptions { TransferOptions = Transfer }, cancellationToken));

    public async Task<Stream> OpenReadAsync(Uri sasUrl, string what, CancellationToken cancellationToken)
    {
        Stream? stream = null;
        await Run(what, async () => stream = await new BlobClient(sasUrl, _options).OpenReadAsync(
            new BlobOpenReadOptions(allowModifications: false) { BufferSize = BlockSize }, cancellationToken).ConfigureAwait(false)).ConfigureAwait(false);
        return stream!;
    }

    /// <summary>
    /// One Put Blob with If-None-Match: * and the hash in the metadata: the link grants Create alone, and Put Blob is the
    /// write Create allows everywhere (Azurite refuses Put Block and Put Block List without Write). It also never stages
    /// blocks, so a saver that dies leaves nothing behind. Azure refuses a create over an existing blob with 409, 412 or,
    /// for a Create-only link, 403.
    /// </summary>
    public async Task<bool> CreateFileAsync(Uri sasUrl, string path, string sha256, string what, CancellationToken cancellationToken)
    {
        try
        {
            await Run(what, () => new BlobClient(sasUrl, _options).UploadAsync(path, new BlobUploadOptions
            {
                TransferOptions = new StorageTransferOptions { InitialTransferSize = MaxPutBlobBytes, MaximumTransferSize = MaxPutBlobBytes, MaximumConcurrency = 1 },
                Metadata = new Dictionary<string, string>(StringComparer.Ordinal) { [BlobMetadata.Sha256] = sha256 },
                Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All },
            }, cancellationToken)).ConfigureAwait(false);
            return true;
        }
        catch (RunnerStoppedException e) when (e.InnerException is RequestFailedException { Status: 409 or 412 } or RequestFailedException { Status: 403, ErrorCode: "AuthorizationPermissionMismatch" })
        {
            return false;
        }
    }

    /// <summary>The largest blob one Put Blob may write (5000 MiB, service version 2019-12-12 and later).</summary>
    public const long MaxPutBlobBytes = 5000L * 1024 * 1024;

    /// <summary>
    /// Appends one batch. The append blob is created only when the first append finds it missing: the link grants
    /// create and add but not write, and create alone may not touch an existing blob — the log of an earlier attempt
    /// of this build, or one the dispatcher started (Azure answers 403 AuthorizationPermissionMismatch).
    /// </summary>
    public Task AppendAsync(Uri sasUrl, ReadOnlyMemory<byte> bytes, string what, CancellationToken cancellationToken) =>
        Run(what, async () =>
        {
            if (_log is null || _log.Uri != sasUrl)
            {
                _log = new AppendBlobClient(sasUrl, _options);
            }

            using var content = BinaryData.FromBytes(bytes).ToStream();
            try
            {
                return await _log.AppendBlockAsync(content, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (RequestFailedException e) when (e.Status == 404)
            {
                try
                {
                    await _log.CreateAsync(new AppendBlobCreateOptions { Conditions = new AppendBlobRequestConditions { IfNoneMatch = ETag.All } }, cancellationToken).ConfigureAwait(false);
                }
                catch (RequestFailedException created) when (created.Status is 403 or 409 or 412)
                {
                    // Someone else created it in between (the refusal of create-over-existing is a 403); append to theirs.
                }

                content.Position = 0;
                return await _log.AppendBlockAsync(content, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
        });

    private static async Task Run<T>(string what, Func<Task<T>> transfer)
    {
        try
        {
            await transfer().ConfigureAwait(false);
        }
        catch (RequestFailedException e)
        {
            throw new RunnerStoppedException(RunnerExitCodes.InfrastructureFailure,
                $"{what} failed: Azure Blob Storage answered HTTP {e.Status} {e.ErrorCode}".TrimEnd(), e);
        }
        catch (Exception e) when (e is HttpRequestException or AggregateException)
        {
            throw new RunnerStoppedException(RunnerExitCodes.InfrastructureFailure, $"{what} failed: Azure Blob Storage could not be reached: {e.Message}", e);
        }
    }
}
