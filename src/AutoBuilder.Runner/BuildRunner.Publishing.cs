using AutoBuilder.Core.Builds;
using AutoBuilder.Runner.Publishing;

namespace AutoBuilder.Runner;

/// <summary>Collecting and publishing: the outputs reach the runner only as streams produced as the build user (OutputCollector), and leave as uploads.</summary>
public sealed partial class BuildRunner
{
    private sealed partial class Attempt
    {
        /// <summary>Collects the outputs as the build user, with the build's view (docs/SECURITY.md, "The trust boundary"), and publishes them.</summary>
        private async Task PublishOutputsAsync(OutputPublisher publisher, Prepared prepared, TimeSpan limit, CancellationToken cancellationToken)
        {
            var published = await publisher.PublishAsync(
                new PublishRequest(new BuildView(prepared.SourceRoot, prepared.ToolSandbox, prepared.RunAs), prepared.Toolchain.Outputs, prepared.Toolchain.Artifacts)
                {
                    Succeeded = _outcome == BuildOutcome.Succeeded,
                    MaxBytes = spec.MaxWorkspaceBytes,
                    Timeout = limit,
                },
                cancellationToken).ConfigureAwait(false);
            _files = published.Files;
            _artifacts = published.Artifacts;
            if (published.Error is { } error)
            {
                Fail(error);
                await LogAsync($"publishing failed: {error}", cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
