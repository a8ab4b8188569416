using System.Diagnostics.Metrics;
using AutoBuilder.Core.Builds;

namespace AutoBuilder.Server.Hosting;

/// <summary>AutoBuilder's own instruments, exported on /metrics with ASP.NET Core's.</summary>
public sealed class AutoBuilderMetrics : IDisposable
{
    public const string MeterName = "AutoBuilder";

    private readonly Meter _meter;
    private readonly Counter<long> _queued;
    private readonly Counter<long> _finished;
    private readonly Counter<long> _retried;
    private readonly Histogram<double> _phase;
    private int _running;
    private int _queueDepth;

    public AutoBuilderMetrics(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(MeterName);
        _queued = _meter.CreateCounter<long>("autobuilder.builds.queued", description: "Builds accepted");
        _finished = _meter.CreateCounter<long>("autobuilder.builds.finished", description: "Builds that reached a terminal state, by status");
        _retried = _meter.CreateCounter<long>("autobuilder.builds.retried", description: "Attempts lost to infrastructure failures and retried");
        _phase = _meter.CreateHistogram<double>("autobuilder.build.phase.duration", unit: "s", description: "Duration of build phases",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600] });
        _meter.CreateObservableGauge("autobuilder.builds.running", () => Volatile.Read(ref _running), description: "Builds this dispatcher runs now");
        _meter.CreateObservableGauge("autobuilder.queue.depth", () => Volatile.Read(ref _queueDepth), description: "Queued builds at the last dispatch");
    }

    public void BuildQueued() => _queued.Add(1);

    public void BuildFinished(BuildStatus status) => _finished.Add(1, new KeyValuePair<string, object?>("status", status.ToWire()));

    public void BuildRetried() => _retried.Add(1);

    public void PhaseMeasured(string phase, double? seconds)
    {
        if (seconds is { } value)
        {
            _phase.Record(value, new KeyValuePair<string, object?>("phase", phase));
        }
    }

    public void SetRunning(int count) => Volatile.Write(ref _running, count);

    public void SetQueueDepth(int count) => Volatile.Write(ref _queueDepth, count);

    public void Dispose() => _meter.Dispose();
}
