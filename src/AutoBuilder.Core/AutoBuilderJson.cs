using System.Text.Json;
using System.Text.Json.Serialization;

namespace AutoBuilder.Core;

/// <summary>The one JSON shape used on every wire: camelCase, nulls omitted.</summary>
public static class AutoBuilderJson
{
    public static JsonSerializerOptions Options { get; } = Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    /// <summary>Applies AutoBuilder's settings to an options instance (e.g. ASP.NET Core's).</summary>
    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = JsonNamingPolicy.CamelCase;
        options.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
        options.MaxDepth = 32;
        return options;
    }
}
