using AutoBuilder.Core.Storage;
using Azure.Core;
using Azure.Storage.Blobs;

namespace AutoBuilder.Storage;

/// <summary>
/// Settings of <see cref="AzureBlobStore"/>. The account comes from a connection string with an account key (service SAS),
/// or from an account name / service URI plus a token credential (user-delegation SAS). Checked when the store is built.
/// </summary>
public sealed class AzureBlobStoreOptions
{
    /// <summary>Names used in error messages: the configuration keys an operator sets.</summary>
    public const string ConnectionStringKey = "Storage:Azure:ConnectionString (or AZURE_STORAGE_CONNECTION_STRING)";
    public const string AccountNameKey = "Storage:Azure:AccountName (or AZURE_STORAGE_ACCOUNT_NAME)";
    public const string ServiceUriKey = "Storage:Azure:ServiceUri";

    /// <summary>A connection string that holds the account key (needed to sign service SAS URLs).</summary>
    public string? ConnectionString { get; set; }

    /// <summary>The storage account, reached at https://{AccountName}.blob.core.windows.net unless <see cref="ServiceUri"/> is set.</summary>
    public string? AccountName { get; set; }

    /// <summary>The blob endpoint when not the public cloud's (sovereign clouds, Azurite).</summary>
    public Uri? ServiceUri { get; set; }

    /// <summary>Credential for the account-name mode; default <c>DefaultAzureCredential</c> (managed / workload identity).</summary>
    public TokenCredential? Credential { get; set; }

    public ContainerNames Containers { get; set; } = new();

    /// <summary>Transient failures (5xx, 408, 429, network errors) are retried with exponential backoff up to this many times.</summary>
    public int MaxRetries { get; set; } = BlobRetrySettings.Default.MaxRetries;

    public TimeSpan RetryDelay { get; set; } = BlobRetrySettings.Default.Delay;

    public TimeSpan MaxRetryDelay { get; set; } = BlobRetrySettings.Default.MaxDelay;

    /// <summary>How long one request (or one read of a streamed download) may stall before it is retried.</summary>
    public TimeSpan NetworkTimeout { get; set; } = BlobRetrySettings.Default.NetworkTimeout;

    /// <summary>The retry settings above, as one value.</summary>
    public BlobRetrySettings Retry => new(MaxRetries, RetryDelay, MaxRetryDelay, NetworkTimeout);

    /// <summary>Every problem with these options, each a sentence naming the setting; empty when valid.</summary>
    public IReadOnlyList<string> GetValidationErrors()
    {
        var errors = new List<string>();
        var hasConnectionString = !string.IsNullOrWhiteSpace(ConnectionString);
        var hasAccount = !string.IsNullOrWhiteSpace(AccountName) || ServiceUri is not null;
        if (!hasConnectionString && !hasAccount)
        {
            errors.Add($"Storage:Provider is AzureBlob but no account is configured: set {ConnectionStringKey} or {AccountNameKey}.");
        }

        if (hasConnectionString)
        {
            try
            {
                if (!new BlobServiceClient(ConnectionString).CanGenerateAccountSasUri)
                {
                    errors.Add($"{ConnectionStringKey} has no AccountKey: signed URLs need the account key (or use {AccountNameKey} with a managed identity).");
                }
            }
            catch (Exception e) when (e is FormatException or ArgumentException or InvalidOperationException)
            {
                // The SDK's message may echo the string; the key is a secret, so only the kind of problem is reported.
                errors.Add($"{ConnectionStringKey} is malformed ({e.GetType().Name}); expected e.g. 'DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...;EndpointSuffix=core.windows.net'.");
            }
        }
        else if (!string.IsNullOrWhiteSpace(AccountName) && !System.Text.RegularExpressions.Regex.IsMatch(AccountName, @"\A[a-z0-9]{3,24}\z"))
        {
            errors.Add($"{AccountNameKey} '{AccountName}' is not a storage account name (3-24 lower-case letters and digits).");
        }

        if (ServiceUri is not null && (!ServiceUri.IsAbsoluteUri || (ServiceUri.Scheme != Uri.UriSchemeHttps && ServiceUri.Scheme != Uri.UriSchemeHttp)))
        {
            errors.Add($"{ServiceUriKey} must be an absolute http(s) URL; '{ServiceUri}' is not.");
        }

        if (MaxRetries is < 0 or > 20)
        {
            errors.Add($"{nameof(MaxRetries)} must be between 0 and 20; it is {MaxRetries}.");
        }

        errors.AddRange(ContainerNameRules.Check(Containers));

        return errors;
    }

    /// <summary>Throws <see cref="ArgumentException"/> listing every problem when the options are invalid.</summary>
    public void Validate() => ContainerNameRules.ThrowIfAny(GetValidationErrors(), "Azure Blob storage");
}
