using System.Globalization;
using System.Text.RegularExpressions;
using AutoBuilder.Core;
using AutoBuilder.Core.Builds;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace AutoBuilder.Runner.Configuration;

/// <summary>
/// Reads autobuilder.yml strictly: an unknown key or a bad value fails the build with a message
/// naming the key, rather than being silently ignored (a typo must not change what gets built).
/// </summary>
public static partial class BuildConfigLoader
{
    public const string FileName = "autobuilder.yml";

    private static readonly string[] KnownKeys = ["toolchain", "command", "steps", "outputs", "artifacts", "version", "timeout", "env", "cache"];

    private static readonly string[] StepKeys = ["name", "run", "timeout"];

    /// <summary>Loads {sourceRoot}/autobuilder.yml, or <see cref="BuildConfig.Empty"/> when there is none.</summary>
    public static BuildConfig LoadFrom(string sourceRoot)
    {
        var path = Path.Combine(sourceRoot, FileName);
        return File.Exists(path) ? Parse(File.ReadAllText(path)) : BuildConfig.Empty;
    }

    /// <exception cref="BuildFailureException">The YAML is invalid, or a key is unknown or has a bad value.</exception>
    public static BuildConfig Parse(string yaml)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException ex)
        {
            throw Fail($"invalid YAML at line {ex.Start.Line}: {ex.Message}");
        }

        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is YamlScalarNode { Value: null or "" })
        {
            return BuildConfig.Empty;
        }

        if (stream.Documents[0].RootNode is not YamlMappingNode map)
        {
            throw Fail("the document must be a mapping of keys (toolchain, command, outputs, ...)");
        }

        var config = new BuildConfig();
        foreach (var (keyNode, value) in map.Children)
        {
            var key = (keyNode as YamlScalarNode)?.Value ?? string.Empty;
            config = key switch
            {
                "toolchain" => config with { Toolchain = ParseToolchain(value) },
                "command" => config with { Command = RequireScalar(key, value) },
                "outputs" => config with { Outputs = ParseGlobs(key, value) },
                "artifacts" => config with { Artifacts = ParseGlobs(key, value) },
                "version" => config with { Version = ParseVersion(value) },
                "timeout" => config with { Timeout = ParseTimeout(value) },
                "env" => config with { Env = ParseEnv(value) },
                "cache" => config with { Cache = ParseCache(value) },
                "steps" => config with { Steps = ParseSteps(value) },
                _ => throw Fail($"unknown key '{Printable.Of(key)}' (line {keyNode.Start.Line}); allowed keys: {string.Join(", ", KnownKeys)}"),
            };
        }

        return config is { Steps: not null, Command: not null }
            ? throw Fail("set either 'steps' or 'command', not both (a command is a build of one step)")
            : config;
    }

    /// <summary>Parses "90s", "30m", "1h" or a plain number of seconds.</summary>
    public static bool TryParseTimeout(string text, out TimeSpan timeout)
    {
        timeout = default;
        var match = TimeoutPattern().Match(text.Trim());
        if (!match.Success || !long.TryParse(match.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var amount) || amount <= 0)
        {
            return false;
        }

        var seconds = match.Groups[2].Value switch
        {
            "" or "s" => amount,
            "m" => amount * 60,
            _ => amount * 3600,
        };
        if (seconds > TimeSpan.FromDays(30).TotalSeconds)
        {
            return false;
        }

        timeout = TimeSpan.FromSeconds(seconds);
        return true;
    }

    private static string ParseToolchain(YamlNode value)
    {
        var name = RequireScalar("toolchain", value);
        return Toolchains.IsKnown(name)
            ? name
            : throw Fail($"toolchain '{name}' is not one of {string.Join(", ", Toolchains.All)}");
    }

    private static string ParseVersion(YamlNode value)
    {
        var version = RequireScalar("version", value);
        return Ids.IsValidVersion(version)
            ? version
            : throw Fail($"version '{Printable.Of(version)}' is not a valid version (letters, digits, '.', '_', '+', '-'; no '..')");
    }

    private static TimeSpan ParseTimeout(YamlNode value)
    {
        var text = RequireScalar("timeout", value);
        return TryParseTimeout(text, out var timeout)
            ? timeout
            : throw Fail($"timeout '{text}' must be a positive duration such as 90s, 30m, 1h or a number of seconds");
    }

    private static List<StepDefinition> ParseSteps(YamlNode value)
    {
        if (value is not YamlSequenceNode { Children.Count: > 0 } sequence)
        {
            throw Fail("'steps' must be a non-empty list of steps, each with a name and run");
        }

        if (sequence.Children.Count > BuildSteps.MaxCount)
        {
            throw Fail(string.Create(CultureInfo.InvariantCulture, $"'steps' may list at most {BuildSteps.MaxCount} steps, not {sequence.Children.Count}"));
        }

        var steps = new List<StepDefinition>();
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var item in sequence.Children)
        {
            var where = string.Create(CultureInfo.InvariantCulture, $"steps[{steps.Count + 1}] (line {item.Start.Line})");
            if (item is not YamlMappingNode map)
            {
                throw Fail($"{where} must be a mapping with name, run and optionally timeout");
            }

            string? name = null;
            string? run = null;
            TimeSpan? timeout = null;
            foreach (var (keyNode, field) in map.Children)
            {
                var key = (keyNode as YamlScalarNode)?.Value ?? string.Empty;
                switch (key)
                {
                    case "name":
                        name = (field as YamlScalarNode)?.Value;
                        if (!BuildSteps.IsValidName(name) || field is not YamlScalarNode)
                        {
                            throw Fail($"{where}: 'name' must be 1–{BuildSteps.MaxNameLength} printable characters, not '{Printable.Of(name, BuildSteps.MaxNameLength + 1)}'");
                        }

                        break;
                    case "run":
                        run = field is YamlScalarNode { Value: { } text } && !string.IsNullOrWhiteSpace(text)
                            ? text
                            : throw Fail($"{where}: 'run' must be a non-empty command");
                        break;
                    case "timeout":
                        var raw = field is YamlScalarNode { Value: { } t } ? t : string.Empty;
                        timeout = TryParseTimeout(raw, out var parsed)
                            ? parsed
                            : throw Fail($"{where}: timeout '{Printable.Of(raw)}' must be a positive duration such as 90s, 30m, 1h or a number of seconds");
                        break;
                    default:
                        throw Fail($"{where}: unknown key '{Printable.Of(key)}'; allowed keys: {string.Join(", ", StepKeys)}");
                }
            }

            if (name is null || run is null)
            {
                throw Fail($"{where}: a step needs both 'name' and 'run'");
            }

            if (!names.Add(name))
            {
                throw Fail($"{where}: the step name '{name}' is used twice (names are compared ignoring case)");
            }

            steps.Add(new StepDefinition(name, run, timeout));
        }

        return steps;
    }

    private static List<string> ParseGlobs(string key, YamlNode value)
    {
        // A single string is accepted as a one-item list.
        IEnumerable<YamlNode> items = value switch
        {
            YamlSequenceNode sequence => sequence.Children,
            YamlScalarNode => [value],
            _ => throw Fail($"'{key}' must be a list of glob patterns"),
        };

        var globs = new List<string>();
        foreach (var item in items)
        {
            var glob = RequireScalar(key, item);
            var pattern = glob.TrimStart('!');
            if (pattern.StartsWith('/') || pattern.Split('/', '\\').Contains(".."))
            {
                throw Fail($"'{key}' pattern '{glob}' must be relative to the source root, without '..'");
            }

            globs.Add(glob);
        }

        return globs;
    }

    /// <summary>cache: true | false, or a mapping with key (globs) and paths (folders relative to HOME).</summary>
    private static CacheConfig ParseCache(YamlNode value)
    {
        if (value is YamlScalarNode scalar)
        {
            return scalar.Value switch
            {
                "false" => CacheConfig.Off,
                "true" => new CacheConfig(),
                _ => throw Fail($"'cache' must be true, false or a mapping with key and paths, not '{Printable.Of(scalar.Value)}'"),
            };
        }

        if (value is not YamlMappingNode map)
        {
            throw Fail("'cache' must be true, false or a mapping with key and paths");
        }

        var cache = new CacheConfig();
        foreach (var (keyNode, item) in map.Children)
        {
            var key = (keyNode as YamlScalarNode)?.Value ?? string.Empty;
            cache = key switch
            {
                "key" => cache with { Key = ParseGlobs("cache.key", item) },
                "paths" => cache with { Paths = ParseHomePaths(item) },
                _ => throw Fail($"unknown key 'cache.{key}' (line {keyNode.Start.Line}); allowed: key, paths"),
            };
        }

        return cache;
    }

    private static List<string> ParseHomePaths(YamlNode value)
    {
        IEnumerable<YamlNode> items = value switch
        {
            YamlSequenceNode sequence => sequence.Children,
            YamlScalarNode => [value],
            _ => throw Fail("'cache.paths' must be a list of folders relative to HOME"),
        };

        var paths = new List<string>();
        foreach (var item in items)
        {
            var path = RequireScalar("cache.paths", item);
            var segments = path.Replace('\\', '/').Split('/', StringSplitOptions.RemoveEmptyEntries);
            if (path.StartsWith('/') || path.StartsWith('~') || segments.Length == 0 || segments.Any(s => s is ".." or ".") || path.Contains('\0', StringComparison.Ordinal))
            {
                throw Fail($"'cache.paths' entry '{Printable.Of(path)}' must be a folder relative to HOME, without '.' or '..'");
            }

            paths.Add(string.Join('/', segments));
        }

        return paths;
    }

    private static Dictionary<string, string> ParseEnv(YamlNode value)
    {
        if (value is not YamlMappingNode map)
        {
            throw Fail("'env' must be a mapping of NAME: value");
        }

        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (keyNode, valueNode) in map.Children)
        {
            var name = (keyNode as YamlScalarNode)?.Value ?? string.Empty;
            if (!EnvNamePattern().IsMatch(name))
            {
                throw Fail($"'env' name '{name}' is not a valid environment variable name");
            }

            if (IsReservedEnvName(name))
            {
                throw Fail($"'env' may not set {name}: variables that configure the dynamic loader, the shell or the C library "
                    + $"({string.Join(", ", ReservedEnvNames)}, LD_*) or that AutoBuilder sets itself ({string.Join(", ", BuildOwnedEnvNames)}) are refused");
            }

            if (valueNode is not YamlScalarNode scalar)
            {
                throw Fail($"'env.{name}' must be a string, number or boolean");
            }

            if (scalar.Value?.Contains('\0', StringComparison.Ordinal) == true)
            {
                throw Fail($"'env.{name}' contains a NUL character");
            }

            env[name] = scalar.Value ?? string.Empty;
        }

        return env;
    }

    /// <summary>
    /// Refused in env even though the user's variables reach only the sandboxed command (docs/SECURITY.md): they change
    /// how every program loads, what a shell runs first, or where the C library reads code and data from — glibc's own
    /// list of variables it drops for set-user-ID programs, plus the shells' start-up variables.
    /// </summary>
    public static readonly IReadOnlyList<string> ReservedEnvNames =
    [
        "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "PS4", "IFS", "GCONV_PATH", "GETCONF_DIR", "HOSTALIASES", "LOCALDOMAIN",
        "LOCPATH", "MALLOC_TRACE", "NIS_PATH", "NLSPATH", "RESOLV_HOST_CONF", "RES_OPTIONS", "TZDIR", "GLIBC_TUNABLES",
    ];

    /// <summary>Set by AutoBuilder for every build: the workspace's HOME and TMPDIR (counted against its disk limit).</summary>
    public static readonly IReadOnlyList<string> BuildOwnedEnvNames = ["HOME", "TMPDIR"];

    public static bool IsReservedEnvName(string name) =>
        name.StartsWith("LD_", StringComparison.Ordinal)
        || ReservedEnvNames.Contains(name, StringComparer.Ordinal)
        || BuildOwnedEnvNames.Contains(name, StringComparer.Ordinal);

    private static string RequireScalar(string key, YamlNode value) =>
        value is YamlScalarNode { Value: { Length: > 0 } text } && !string.IsNullOrWhiteSpace(text)
            ? text
            : throw Fail($"'{key}' must be a non-empty string");

    private static BuildFailureException Fail(string message) => new($"{FileName}: {message}");

    [GeneratedRegex(@"\A([0-9]{1,9})([smh]?)\z")]
    private static partial Regex TimeoutPattern();

    [GeneratedRegex(@"\A[A-Za-z_][A-Za-z0-9_]*\z")]
    private static partial Regex EnvNamePattern();
}
