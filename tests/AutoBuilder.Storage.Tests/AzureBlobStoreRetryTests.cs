using AutoBuilder.Core.Storage;
using Azure.Core;

namespace AutoBuilder.Storage.Tests;

/// <summary>The Azure store's retries start from the one shared <see cref="BlobRetrySettings.Default"/> and go to the SDK's own retry options.</summary>
public sealed class AzureBlobStoreRetryTests
{
    [Fact]
    public void Options_ByDefault_AreTheSharedRetryDefaults()
    {
        Assert.Equal(BlobRetrySettings.Default, new AzureBlobStoreOptions().Retry);
    }

    [Fact]
    public void ClientOptions_CarryEverySettingIntoTheSdksExponentialRetries()
    {
        var retry = new BlobRetrySettings(MaxRetries: 3, Delay: TimeSpan.FromMilliseconds(70), MaxDelay: TimeSpan.FromSeconds(2), NetworkTimeout: TimeSpan.FromSeconds(9));

        var sdk = AzureBlobStore.ClientOptions(retry).Retry;

        Assert.Equal(RetryMode.Exponential, sdk.Mode);
        Assert.Equal((3, TimeSpan.FromMilliseconds(70), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(9)), (sdk.MaxRetries, sdk.Delay, sdk.MaxDelay, sdk.NetworkTimeout));
    }
}
