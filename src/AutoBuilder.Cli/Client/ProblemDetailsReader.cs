using System.Net;
using System.Text;
using System.Text.Json;

namespace AutoBuilder.Cli.Client;

/// <summary>Turns a non-success response into an <see cref="AutoBuilderApiException"/>.</summary>
public static class ProblemDetailsReader
{
    /// <summary>How much of an error body is read at most; an error page is never worth buffering whole.</summary>
    public const int MaxBodyBytes = 64 * 1024;

    /// <summary>How much of a body that is not problem+json is shown to the user.</summary>
    public const int MaxRawDetailChars = 500;

    public static async Task<AutoBuilderApiException> ReadAsync(HttpResponseMessage response, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(response);
        var status = response.StatusCode;
        var fallbackTitle = string.IsNullOrEmpty(response.ReasonPhrase) ? status.ToString() : response.ReasonPhrase;
        var body = await ReadBoundedAsync(response.Content, cancellationToken);

        if (body.Length > 0 && TryParseProblem(body, out var title, out var detail))
        {
            return new AutoBuilderApiException(status, title ?? fallbackTitle, detail);
        }

        var text = Encoding.UTF8.GetString(body).Trim();
        if (text.Length > MaxRawDetailChars)
        {
            text = text[..MaxRawDetailChars];
        }

        return new AutoBuilderApiException(status, fallbackTitle, text.Length == 0 ? null : text);
    }

    private static bool TryParseProblem(byte[] body, out string? title, out string? detail)
    {
        title = null;
        detail = null;
        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                return false;
            }

            title = GetString(document.RootElement, "title");
            detail = GetString(document.RootElement, "detail");
            return title is not null || detail is not null;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static string? GetString(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static async Task<byte[]> ReadBoundedAsync(HttpContent content, CancellationToken cancellationToken)
    {
        await using var stream = await content.ReadAsStreamAsync(cancellationToken);
        var buffer = new byte[MaxBodyBytes];
        var total = 0;
        int read;
        while (total < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(total), cancellationToken)) > 0)
        {
            total += read;
        }

        return buffer[..total];
    }
}
