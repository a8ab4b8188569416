using System.Collections;
using AutoBuilder.Core.Storage;

namespace AutoBuilder.Storage;

/// <summary>
/// The containers a store was configured with, and the check every store makes before it touches storage: a blob names
/// one of these containers and a path that keeps <see cref="BlobPath"/>'s rule.
/// </summary>
internal sealed class ConfiguredContainers(ContainerNames names) : IEnumerable<string>
{
    private readonly HashSet<string> _names = new(names.All, StringComparer.Ordinal);

    /// <summary>Returns <paramref name="container"/> when it is configured.</summary>
    /// <exception cref="ArgumentException">It is not.</exception>
    public string Require(string? container) =>
        container is not null && _names.Contains(container)
            ? container
            : throw new ArgumentException(
                $"Unknown blob container '{container}'; the configured containers are {string.Join(", ", _names.Order(StringComparer.Ordinal))}.",
                nameof(container));

    /// <summary>Returns <paramref name="blob"/> when its container is configured and its path keeps the rule.</summary>
    /// <exception cref="ArgumentException">Either does not.</exception>
    public BlobRef Require(BlobRef blob)
    {
        Require(blob.Container);
        BlobPath.Require(blob.Path, nameof(blob));
        return blob;
    }

    public IEnumerator<string> GetEnumerator() => _names.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
