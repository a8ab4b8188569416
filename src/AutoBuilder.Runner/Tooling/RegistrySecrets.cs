using System.Xml;
using System.Xml.Linq;
using AutoBuilder.Core.Protocol;

namespace AutoBuilder.Runner.Tooling;

/// <summary>
/// The secrets in the operator's registry settings (the npm token, NuGet.Config passwords and API keys, the Gradle
/// mirror's password and the quoted password and token values of the Gradle init script): the build's
/// log masks them wherever they appear, whatever prints them.
/// </summary>
public static partial class RegistrySecrets
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

        if (settings.GradleMirrorPassword is { } gradlePassword)
        {
            // Also as the build's ~/.gradle/autobuilder-mirror.properties holds it.
            secrets.Add(gradlePassword);
            secrets.Add(Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(gradlePassword)));
        }

        if (settings.GradleInitScript is { } initScript && File.Exists(initScript))
        {
            try
            {
                // password = '…', password "…", setPassword('…'), …Token = '…': what an init script's credentials look like.
                secrets.AddRange(GradleSecretPattern().Matches(File.ReadAllText(initScript)).Select(m => m.Groups["value"].Value));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // An unreadable script fails the build when it is copied; nothing to mask from it.
            }
        }

        return secrets.Where(s => s.Length >= MinimumLength).Distinct(StringComparer.Ordinal).ToList();
    }

    [System.Text.RegularExpressions.GeneratedRegex("""(?i)(?:password|token|secret|apikey)\w*\s*(?:=|\(|\s)\s*(?<q>['"])(?<value>[^'"\r\n]+)\k<q>""")]
    private static partial System.Text.RegularExpressions.Regex GradleSecretPattern();
}
