namespace AutoBuilder.Server.Api;

/// <summary>
/// Thrown by the API layer for a request it cannot read (body type, size, JSON, query); mapped to problem+json by the
/// exception handler. Services throw <see cref="Builds.DomainException"/>s instead and know no status codes.
/// </summary>
public sealed class ApiException(int status, string title, string? detail = null) : Exception(detail ?? title)
{
    public int Status { get; } = status;
    public string Title { get; } = title;
    public string? Detail { get; } = detail;
}
