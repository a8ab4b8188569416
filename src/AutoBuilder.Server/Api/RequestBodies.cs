using System.Text.Json;
using AutoBuilder.Core;
using AutoBuilder.Server.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace AutoBuilder.Server.Api;

/// <summary>Reads request bodies with the limits and content types each kind of endpoint allows.</summary>
public static class RequestBodies
{
    private static readonly string[] ZipTypes = ["application/zip", "application/x-zip-compressed", "application/octet-stream"];

    /// <summary>The media type itself, parsed (parameters aside), must be one of the ZIP types: "application/zipfoo" is not.</summary>
    public static bool IsZip(HttpRequest request) =>
        MediaTypeHeaderValue.TryParse(request.ContentType, out var type)
        && ZipTypes.Any(z => string.Equals(type.MediaType.Value, z, StringComparison.OrdinalIgnoreCase));

    public static bool IsJson(HttpRequest request) => request.HasJsonContentType();

    /// <summary>Limits the body before it is read: Kestrel answers 413 as soon as a body goes past it.</summary>
    public static void LimitBody(HttpContext context, long maxBytes)
    {
        if (context.Request.ContentLength > maxBytes)
        {
            throw new ApiException(StatusCodes.Status413PayloadTooLarge, "Body too large", $"The body has {context.Request.ContentLength} bytes; at most {maxBytes} are accepted.");
        }

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature)
        {
            feature.MaxRequestBodySize = maxBytes;
        }
    }

    /// <summary>The request's ZIP body, after checking its type and size limit.</summary>
    public static Stream ZipBody(HttpContext context)
    {
        if (!IsZip(context.Request))
        {
            throw new ApiException(StatusCodes.Status415UnsupportedMediaType, "Unsupported content type",
                $"Send the source as 'Content-Type: application/zip' (got '{context.Request.ContentType ?? "none"}').");
        }

        LimitBody(context, context.RequestServices.GetRequiredService<IOptions<UploadOptions>>().Value.MaxBytes);
        return context.Request.Body;
    }

    /// <summary>A JSON body of at most Server:MaxJsonBytes (or <paramref name="maxBytes"/>), deserialized; malformed JSON is a 400 that says where.</summary>
    public static async Task<T> JsonAsync<T>(HttpContext context, long? maxBytes = null)
        where T : class
    {
        if (!IsJson(context.Request))
        {
            throw new ApiException(StatusCodes.Status415UnsupportedMediaType, "Unsupported content type",
                $"Send a JSON body with 'Content-Type: application/json' (got '{context.Request.ContentType ?? "none"}').");
        }

        LimitBody(context, maxBytes ?? context.RequestServices.GetRequiredService<IOptions<ServerOptions>>().Value.MaxJsonBytes);
        try
        {
            return await JsonSerializer.DeserializeAsync<T>(context.Request.Body, AutoBuilderJson.Options, context.RequestAborted)
                   ?? throw new ApiException(StatusCodes.Status400BadRequest, "Malformed JSON", "The body is JSON null; an object was expected.");
        }
        catch (JsonException e)
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "Malformed JSON", e.Message);
        }
    }
}
