using Microsoft.Extensions.Configuration;

namespace AutoBuilder.Server.Hosting;

/// <summary>
/// Reads the keys that choose a provider (Storage:Provider, Metadata:Provider, Executor:Kind, Executor:Runner). They
/// decide which services are registered, so they are read while registering, before any options instance exists; this
/// is the one place their text is judged. Accepted: the enum's names in any case, as the options binder accepts them
/// (so IOptions sees the same choice); unset: the default. Anything else stops start-up naming the key and the names.
/// </summary>
public static class ConfigurationChoice
{
    public static TEnum Read<TEnum>(IConfiguration configuration, string key, TEnum unset) where TEnum : struct, Enum
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var value = configuration[key];
        if (value is null)
        {
            return unset;
        }

        // Names only: Enum.TryParse would also take "1" or "Local,Kubernetes".
        foreach (var name in Enum.GetNames<TEnum>())
        {
            if (string.Equals(name, value.Trim(), StringComparison.OrdinalIgnoreCase))
            {
                return Enum.Parse<TEnum>(name);
            }
        }

        throw new InvalidOperationException($"{key} '{value}' is not supported; use {Describe<TEnum>()}.");
    }

    /// <summary>"'A' or 'B'", "'A', 'B' or 'C'".</summary>
    private static string Describe<TEnum>() where TEnum : struct, Enum
    {
        var names = Enum.GetNames<TEnum>().Select(n => $"'{n}'").ToArray();
        return names.Length == 1 ? names[0] : $"{string.Join(", ", names[..^1])} or {names[^1]}";
    }
}
