namespace AutoBuilder.Core.Storage;

/// <summary>
/// How a storage client retries a transient failure (5xx, 408, 429, network errors): exponential backoff from
/// <see cref="Delay"/> up to <see cref="MaxDelay"/>, at most <see cref="MaxRetries"/> times, each try allowed
/// <see cref="NetworkTimeout"/> to stall. <see cref="Default"/> is the one source of these values: the server's Azure
/// store starts from it (Storage:Azure:* may change it there) and a runner's Azure SAS transfers use it.
/// </summary>
public sealed record BlobRetrySettings(int MaxRetries, TimeSpan Delay, TimeSpan MaxDelay, TimeSpan NetworkTimeout)
{
    public static BlobRetrySettings Default { get; } = new(
        MaxRetries: 5,
        Delay: TimeSpan.FromMilliseconds(500),
        MaxDelay: TimeSpan.FromSeconds(10),
        NetworkTimeout: TimeSpan.FromSeconds(60));
}
