using AutoBuilder.Core.Storage;

namespace AutoBuilder.Storage;

/// <summary>Settings of <see cref="FileSystemBlobStore"/>. Checked by <see cref="Validate"/> when the store is constructed.</summary>
public sealed class FileSystemBlobStoreOptions
{
    /// <summary>Blobs live at <c>{RootPath}/{container}/{path}</c>; temp files at <c>{RootPath}/.tmp/</c>.</summary>
    public string RootPath { get; set; } = "";

    /// <summary>Absolute http(s) base URL of the API server that serves <c>/blobs/...</c> signed URLs.</summary>
    public Uri? PublicBaseUrl { get; set; }

    /// <summary>HMAC-SHA256 key for signed URLs, at least <see cref="BlobUrlSigner.MinimumKeyLength"/> bytes.</summary>
#pragma warning disable CA1819 // A key is bytes; the store copies it at construction, so later changes to the array have no effect.
    public byte[] SigningKey { get; set; } = [];
#pragma warning restore CA1819

    public ContainerNames Containers { get; set; } = new();

    /// <summary>Every problem with these options, each a sentence naming the setting; empty when valid.</summary>
    public IReadOnlyList<string> GetValidationErrors()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(RootPath))
        {
            errors.Add($"{nameof(RootPath)} is required: the folder under which blobs are stored.");
        }
        else if (RootPath.Contains('\0', StringComparison.Ordinal))
        {
            errors.Add($"{nameof(RootPath)} contains a NUL character.");
        }

        if (PublicBaseUrl is null)
        {
            errors.Add($"{nameof(PublicBaseUrl)} is required: the http(s) URL of the API server that serves signed blob URLs.");
        }
        else if (!PublicBaseUrl.IsAbsoluteUri || (PublicBaseUrl.Scheme != Uri.UriSchemeHttp && PublicBaseUrl.Scheme != Uri.UriSchemeHttps))
        {
            errors.Add($"{nameof(PublicBaseUrl)} must be an absolute http or https URL; '{PublicBaseUrl}' is not.");
        }
        else if (!string.IsNullOrEmpty(PublicBaseUrl.Query) || !string.IsNullOrEmpty(PublicBaseUrl.Fragment))
        {
            errors.Add($"{nameof(PublicBaseUrl)} must not have a query or fragment; '{PublicBaseUrl}' has one.");
        }

        if (SigningKey is null || SigningKey.Length < BlobUrlSigner.MinimumKeyLength)
        {
            errors.Add($"{nameof(SigningKey)} must be at least {BlobUrlSigner.MinimumKeyLength} bytes; it is {SigningKey?.Length ?? 0}.");
        }

        errors.AddRange(ContainerNameRules.Check(Containers));

        return errors;
    }

    /// <summary>Throws <see cref="ArgumentException"/> listing every problem when the options are invalid.</summary>
    public void Validate() => ContainerNameRules.ThrowIfAny(GetValidationErrors(), "file-system blob store");
}
