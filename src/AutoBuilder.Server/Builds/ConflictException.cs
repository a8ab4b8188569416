namespace AutoBuilder.Server.Builds;

/// <summary>The request is well formed but the current state forbids it (a taken id, a finished build, a stale attempt).</summary>
public sealed class ConflictException(string title, string? detail = null) : DomainException(title, detail);
