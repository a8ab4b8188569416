namespace AutoBuilder.Cli.Client;

/// <summary>Where the server is and which API key to present.</summary>
public sealed record ClientSettings(Uri Server, string ApiKey)
{
    public const string ServerVariable = "AUTOBUILDER_SERVER";
    public const string ApiKeyVariable = "AUTOBUILDER_API_KEY";
    public const string DataVariable = "AUTOBUILDER_DATA";
    public const string DefaultServer = "http://127.0.0.1:8080";
    public const string DefaultDataFolder = ".autobuilder";
    public const string AdminKeyFileName = "admin.key";

    /// <summary>
    /// Server: <paramref name="serverOption"/>, else AUTOBUILDER_SERVER, else http://127.0.0.1:8080.
    /// API key: AUTOBUILDER_API_KEY, else {data}/admin.key where data is <paramref name="dataOption"/>,
    /// else AUTOBUILDER_DATA, else ./.autobuilder (relative to the current directory).
    /// </summary>
    /// <param name="getEnvironmentVariable">Environment lookup (Environment.GetEnvironmentVariable in the app).</param>
    public static ClientSettings Resolve(string? serverOption, string? dataOption, Func<string, string?> getEnvironmentVariable)
    {
        ArgumentNullException.ThrowIfNull(getEnvironmentVariable);

        var serverText = FirstNonEmpty(serverOption, getEnvironmentVariable(ServerVariable)) ?? DefaultServer;
        var server = ParseServer(serverText);

        var key = getEnvironmentVariable(ApiKeyVariable)?.Trim();
        if (!string.IsNullOrEmpty(key))
        {
            return new ClientSettings(server, key);
        }

        var dataFolder = FirstNonEmpty(dataOption, getEnvironmentVariable(DataVariable)) ?? DefaultDataFolder;
        var keyFile = Path.GetFullPath(Path.Combine(dataFolder, AdminKeyFileName));
        string? fileKey = null;
        try
        {
            fileKey = File.ReadAllText(keyFile).Trim();
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            // Reported below with what to set.
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ClientSettingsException($"Cannot read the API key file {keyFile}: {ex.Message}", ex);
        }

        if (string.IsNullOrEmpty(fileKey))
        {
            throw new ClientSettingsException(
                $"No API key. Set {ApiKeyVariable} to your key, or point --data (or {DataVariable}) at the server's data " +
                $"folder holding {AdminKeyFileName} (looked for {keyFile}" + (fileKey is null ? ", which does not exist)." : ", which is empty)."));
        }

        return new ClientSettings(server, fileKey);
    }

    private static Uri ParseServer(string text)
    {
        if (!Uri.TryCreate(text.Trim(), UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new ClientSettingsException($"The server address '{text}' is not an http:// or https:// URL (set --server or {ServerVariable}).");
        }

        // Routes are relative ("api/v1/..."): keep a path prefix such as https://host/autobuilder/ by ending it with '/'.
        return uri.AbsolutePath.EndsWith('/') ? uri : new Uri(uri.GetLeftPart(UriPartial.Path) + "/");
    }

    private static string? FirstNonEmpty(params string?[] values) =>
        values.Select(v => v?.Trim()).FirstOrDefault(v => !string.IsNullOrEmpty(v));
}
