using System.Net;

namespace AutoBuilder.Cli.Client;

/// <summary>Base of every error the client reports to the user; the commands map these to exit code 2.</summary>
public class AutoBuilderClientException : Exception
{
    public AutoBuilderClientException()
    {
    }

    public AutoBuilderClientException(string message)
        : base(message)
    {
    }

    public AutoBuilderClientException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>The server (or a signed URL's host) could not be reached at all.</summary>
public sealed class AutoBuilderConnectionException : AutoBuilderClientException
{
    public AutoBuilderConnectionException()
    {
    }

    public AutoBuilderConnectionException(string message)
        : base(message)
    {
    }

    public AutoBuilderConnectionException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>The client is not configured well enough to talk to a server (no API key, bad URL).</summary>
public sealed class ClientSettingsException : AutoBuilderClientException
{
    public ClientSettingsException()
    {
    }

    public ClientSettingsException(string message)
        : base(message)
    {
    }

    public ClientSettingsException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>A non-success HTTP answer, with the problem+json <c>title</c> and <c>detail</c> when the server sent them.</summary>
public sealed class AutoBuilderApiException : AutoBuilderClientException
{
    public AutoBuilderApiException()
    {
    }

    public AutoBuilderApiException(string message)
        : base(message)
    {
    }

    public AutoBuilderApiException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public AutoBuilderApiException(HttpStatusCode statusCode, string title, string? detail)
        : base(detail is null ? $"{(int)statusCode} {title}" : $"{(int)statusCode} {title}: {detail}")
    {
        StatusCode = statusCode;
        Title = title;
        Detail = detail;
    }

    public HttpStatusCode StatusCode { get; }

    public string Title { get; } = "";

    public string? Detail { get; }
}
