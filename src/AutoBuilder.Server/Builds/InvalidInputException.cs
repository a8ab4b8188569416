namespace AutoBuilder.Server.Builds;

/// <summary>The caller sent something the domain's rules refuse (a malformed id, an unknown toolchain, an unsafe archive).</summary>
public sealed class InvalidInputException(string title, string? detail = null) : DomainException(title, detail);
