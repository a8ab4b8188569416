namespace AutoBuilder.Server.Builds;

/// <summary>The thing asked for does not exist (or is not the caller's to see: the two answer alike).</summary>
public sealed class NotFoundException(string title, string? detail = null) : DomainException(title, detail);
