using AutoBuilder.Core.Storage;
using AutoBuilder.Server.Auth;
using AutoBuilder.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AutoBuilder.Server.Hosting;

/// <summary>The blob store's registrations, one per <see cref="StorageProvider"/>; each registers itself as <see cref="IBlobStore"/>.</summary>
public static class BlobStoreRegistration
{
    /// <summary>Storage:Provider = FileSystem: blobs under {data}/blobs, served by this process's /blobs endpoints.</summary>
    public static IServiceCollection AddFileSystemBlobStore(this IServiceCollection services)
    {
        services.AddSingleton(sp => new FileSystemBlobStore(
            new FileSystemBlobStoreOptions
            {
                RootPath = sp.GetRequiredService<ServerPaths>().BlobRoot,
                PublicBaseUrl = sp.GetRequiredService<ServerAddress>().PublicUrl,
                SigningKey = sp.GetRequiredService<ServerSecrets>().BlobSigningKey,
                Containers = sp.GetRequiredService<IOptions<StorageOptions>>().Value.Containers,
            },
            sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IBlobStore>(sp => sp.GetRequiredService<FileSystemBlobStore>());
        return services;
    }

    /// <summary>Storage:Provider = AzureBlob: section "Storage:Azure", checked with the other options at start.</summary>
    public static IServiceCollection AddAzureBlobStore(this IServiceCollection services)
    {
        services.AddSingleton<IValidateOptions<StorageOptions>, AzureStorageValidator>();
        services.AddSingleton(sp => new AzureBlobStore(
            AzureStoreOptions(sp.GetRequiredService<IOptions<StorageOptions>>().Value, sp.GetRequiredService<IConfiguration>()),
            sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IBlobStore>(sp => sp.GetRequiredService<AzureBlobStore>());
        return services;
    }

    /// <summary>Storage:Azure:* first, then the seed's environment variables, unchanged.</summary>
    private static AzureBlobStoreOptions AzureStoreOptions(StorageOptions storage, IConfiguration configuration)
    {
        var azure = storage.Azure;
        var connectionString = NullIfBlank(azure.ConnectionString) ?? NullIfBlank(configuration["AZURE_STORAGE_CONNECTION_STRING"]);
        return new AzureBlobStoreOptions
        {
            ConnectionString = connectionString,
            // A connection string names its account; the account name matters only without one.
            AccountName = connectionString is null ? NullIfBlank(azure.AccountName) ?? NullIfBlank(configuration["AZURE_STORAGE_ACCOUNT_NAME"]) : null,
            ServiceUri = connectionString is null ? azure.ServiceUri : null,
            Containers = storage.Containers,
            MaxRetries = azure.MaxRetries,
            MaxRetryDelay = azure.MaxRetryDelay,
            NetworkTimeout = azure.NetworkTimeout,
        };
    }

    private static string? NullIfBlank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;

    /// <summary>
    /// The store's own checks (<see cref="AzureBlobStoreOptions.GetValidationErrors"/>) on what it would be built from,
    /// so `autobuilder serve` stops at start with a message naming the key rather than at the first upload.
    /// </summary>
    private sealed class AzureStorageValidator(IConfiguration configuration) : IValidateOptions<StorageOptions>
    {
        public ValidateOptionsResult Validate(string? name, StorageOptions options)
        {
            var errors = AzureStoreOptions(options, configuration).GetValidationErrors();
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
