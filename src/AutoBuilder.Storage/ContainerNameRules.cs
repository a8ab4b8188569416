using System.Text.RegularExpressions;
using AutoBuilder.Core.Storage;

namespace AutoBuilder.Storage;

/// <summary>The Azure container-name rule, applied by every backend so a configuration works on both.</summary>
internal static partial class ContainerNameRules
{
    public static IEnumerable<string> Check(ContainerNames? containers)
    {
        if (containers is null)
        {
            yield return "Containers is required.";
            yield break;
        }

        var names = containers.All;
        foreach (var name in names)
        {
            if (name is null || !ContainerNamePattern().IsMatch(name))
            {
                yield return $"Container name '{name}' is invalid: use 3-63 lower-case letters, digits and hyphens, starting and ending with a letter or digit.";
            }
        }

        foreach (var duplicate in names.Where(n => n is not null).GroupBy(n => n, StringComparer.Ordinal).Where(g => g.Count() > 1))
        {
            yield return $"Container name '{duplicate.Key}' is configured more than once; every container needs its own name.";
        }
    }

    /// <summary>What every store's options Validate() does: throw <see cref="ArgumentException"/> listing every problem.</summary>
    public static void ThrowIfAny(IReadOnlyCollection<string> errors, string store)
    {
        if (errors.Count > 0)
        {
            throw new ArgumentException($"Invalid {store} options: " + string.Join(" ", errors));
        }
    }

    [GeneratedRegex(@"\A[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])\z", RegexOptions.CultureInvariant)]
    private static partial Regex ContainerNamePattern();
}
