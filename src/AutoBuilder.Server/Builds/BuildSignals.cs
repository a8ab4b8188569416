namespace AutoBuilder.Server.Builds;

/// <summary>
/// In-process wake-ups: a build was queued or changed state. Only a shortcut — every listener also polls the
/// metadata store, which is what makes separate API and dispatcher processes work.
/// </summary>
public sealed class BuildSignals
{
    private readonly SemaphoreSlim _dispatch = new(0, 1);

    public event Action<string>? BuildChanged;

    public void NotifyDispatcher()
    {
        try
        {
            _dispatch.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already signalled: one wake-up covers any number of new builds.
        }
    }

    public void NotifyBuildChanged(string buildId)
    {
        BuildChanged?.Invoke(buildId);
        NotifyDispatcher();
    }

    public Task<bool> WaitForDispatchAsync(TimeSpan timeout, CancellationToken cancellationToken) => _dispatch.WaitAsync(timeout, cancellationToken);
}
