using System.Xml;
using System.Xml.Linq;
using AutoBuilder.Core.Protocol;

namespace AutoBuilder.Runner.Tooling;

/// <summary>
/// The secrets in the operator's registry settings (the npm token, NuGet.Config passwords and API keys): the build's
/// log masks them wherever they appear, whatever prints them.
/// </summary>
public static class RegistrySecrets
{
    /// <summary>Shorter values are not masked: masking "abc" everywhere would garble the log and hide nothing.</summary>
    public const int MinimumLength = 6;

    public static IReadOnlyList<string> Of(ToolchainSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var secrets = new List<string>();
        if (settings.NpmAuthToken is { } token)
        {
            secrets.Add(token);
        }

        if (settings.NuGetConfigFile is { } config && File.Exists(config))
        {
            try
            {
                using var reader = XmlReader.Create(config, new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit });
                var document = XDocument.Load(reader);
                secrets.AddRange(document.Descendants()
                    .Where(e => e.Name.LocalName == "add" && e.Parent?.Parent?.Name.LocalName is "packageSourceCredentials" or "configuration"
                        && (string?)e.Attribute("key") is "ClearTextPassword" or "Password" || e.Parent?.Name.LocalName == "apikeys")
                    .Select(e => (string?)e.Attribute("value"))
                    .OfType<string>());
            }
            catch (XmlException)
            {
                // An unreadable config fails the build when it is copied; nothing to mask from it.
            }
        }

        return secrets.Where(s => s.Length >= MinimumLength).Distinct(StringComparer.Ordinal).ToList();
    }
}
