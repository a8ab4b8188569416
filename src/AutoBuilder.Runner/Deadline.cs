namespace AutoBuilder.Runner;

/// <summary>
/// A token cancelled with the caller's or once <c>limit</c> has passed on the given clock, so a phase's bound follows
/// the injected <see cref="TimeProvider"/> (a linked source cannot take a clock itself). Disposing frees both.
/// </summary>
internal sealed class Deadline : IDisposable
{
    private readonly CancellationTokenSource _timeout;
    private readonly CancellationTokenSource _linked;

    public Deadline(TimeSpan limit, TimeProvider time, CancellationToken cancellationToken)
    {
        _timeout = new CancellationTokenSource(limit, time);
        _linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _timeout.Token);
    }

    public CancellationToken Token => _linked.Token;

    /// <summary>Whether the limit passed (rather than the caller cancelling).</summary>
    public bool Expired => _timeout.IsCancellationRequested;

    public void Dispose()
    {
        _linked.Dispose();
        _timeout.Dispose();
    }
}
