namespace AutoBuilder.Runner.Processes;

/// <summary>Inputs of a build command's environment.</summary>
/// <param name="HomeDirectory">The build's private HOME.</param>
/// <param name="TempDirectory">The build's private TMPDIR.</param>
/// <param name="BuildNumber">AUTOBUILDER_BUILD_NUMBER.</param>
/// <param name="ProjectId">AUTOBUILDER_PROJECT.</param>
/// <param name="Toolchain">The toolchain's variables (MAVEN_OPTS, GRADLE_USER_HOME, ...).</param>
/// <param name="User">autobuilder.yml's env; applied last.</param>
public sealed record BuildEnvironmentRequest(
    string HomeDirectory,
    string TempDirectory,
    int BuildNumber,
    string ProjectId,
    IReadOnlyDictionary<string, string> Toolchain,
    IReadOnlyDictionary<string, string>? User)
{
    /// <summary>AUTOBUILDER_CACHE: the project's dependency cache folder, for scripts that cache what they download.</summary>
    public string? CacheDirectory { get; init; }

    /// <summary>The operator's proxy settings (Sandbox:HttpProxy, HttpsProxy, NoProxy).</summary>
    public ProxySettings? Proxy { get; init; }
}

/// <summary>Proxy settings handed to a build in both spellings tools read (HTTP_PROXY and http_proxy, ...).</summary>
public sealed record ProxySettings(string? Http, string? Https, string? NoProxy);

/// <summary>
/// Builds a command's environment from an allow-list. Nothing else of the runner's environment
/// passes — no token, API address, key, or storage/server setting can reach a user's build.
/// </summary>
public static class BuildEnvironment
{
    /// <summary>The only variables taken from the runner's own environment.</summary>
    public static readonly IReadOnlyList<string> Inherited = ["PATH", "LANG", "LC_ALL", "TZ", "JAVA_HOME"];

    private const string DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    private const string DefaultLocale = "C.UTF-8";

    /// <summary>The machine's CA bundle (Debian/Ubuntu, RHEL/Fedora, Alpine), or null when it has none of them.</summary>
    public static string? SystemCaBundle() =>
        new[] { "/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem" }.FirstOrDefault(File.Exists);

    public static Dictionary<string, string> Create(BuildEnvironmentRequest request, Func<string, string?>? runnerEnvironment = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        var read = runnerEnvironment ?? Environment.GetEnvironmentVariable;
        var env = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["PATH"] = NonEmpty(read("PATH")) ?? DefaultPath,
            ["LANG"] = NonEmpty(read("LANG")) ?? DefaultLocale,
            ["LC_ALL"] = NonEmpty(read("LC_ALL")) ?? DefaultLocale,
            ["HOME"] = request.HomeDirectory,
            ["TMPDIR"] = request.TempDirectory,
            ["CI"] = "true",
            ["AUTOBUILDER_BUILD_NUMBER"] = request.BuildNumber.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["AUTOBUILDER_PROJECT"] = request.ProjectId,
        };
        if (request.CacheDirectory is not null)
        {
            env["AUTOBUILDER_CACHE"] = request.CacheDirectory;
        }

        // Node trusts only its own bundled CAs; the machine's store also holds what the operator added (a corporate
        // proxy's CA), which curl, Java, .NET and npm's cafile already use. corepack's downloads need it too.
        if (SystemCaBundle() is { } bundle)
        {
            env["NODE_EXTRA_CA_CERTS"] = bundle;
        }

        foreach (var (name, value) in new[] { ("HTTP_PROXY", request.Proxy?.Http), ("HTTPS_PROXY", request.Proxy?.Https), ("NO_PROXY", request.Proxy?.NoProxy) })
        {
            if (!string.IsNullOrEmpty(value))
            {
                env[name] = value;
                env[name.ToLowerInvariant()] = value;
            }
        }

        foreach (var name in new[] { "TZ", "JAVA_HOME" })
        {
            if (NonEmpty(read(name)) is { } value)
            {
                env[name] = value;
            }
        }

        foreach (var (name, value) in request.Toolchain)
        {
            env[name] = value;
        }

        foreach (var (name, value) in request.User ?? new Dictionary<string, string>())
        {
            env[name] = value;
        }

        return env;
    }

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
