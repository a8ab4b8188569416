namespace AutoBuilder.Server.Builds;

/// <summary>
/// A request the domain refuses, said in its own words: <see cref="Title"/> names what is wrong, <see cref="Detail"/>
/// says how. Services throw one of its kinds and know nothing of HTTP; the API's exception handler alone turns each
/// kind into its status code.
/// </summary>
public abstract class DomainException(string title, string? detail) : Exception(detail ?? title)
{
    public string Title { get; } = title;
    public string? Detail { get; } = detail;
}
