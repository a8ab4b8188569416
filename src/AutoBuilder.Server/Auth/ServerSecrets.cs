using System.Security.Cryptography;
using System.Text;

namespace AutoBuilder.Server.Auth;

/// <summary>
/// The server's one secret, from configuration (Storage:SigningKey) or generated once into {data}/signing.key
/// (mode 0600). Signed URLs and build tokens use keys derived from it, so neither can forge the other.
/// </summary>
public sealed class ServerSecrets
{
    public ServerSecrets(byte[] rootKey)
    {
        if (rootKey.Length < 32)
        {
            throw new ArgumentException("The signing key must be at least 32 bytes.", nameof(rootKey));
        }

        BlobSigningKey = Derive(rootKey, "blob-urls");
        BuildTokenKey = Derive(rootKey, "build-tokens");
    }

    public byte[] BlobSigningKey { get; }

    public byte[] BuildTokenKey { get; }

    /// <summary>Loads the key from configuration (base64) or from the data folder, creating it there on first start.</summary>
    public static ServerSecrets Load(string? configuredKey, string dataDirectory)
    {
        if (!string.IsNullOrWhiteSpace(configuredKey))
        {
            try
            {
                return new ServerSecrets(Convert.FromBase64String(configuredKey));
            }
            catch (FormatException)
            {
                throw new InvalidOperationException("Storage:SigningKey is not valid base64.");
            }
        }

        var path = Path.Combine(dataDirectory, "signing.key");
        if (!File.Exists(path))
        {
            SecretFile.WriteNew(path, Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)));
        }

        return new ServerSecrets(Convert.FromBase64String(File.ReadAllText(path).Trim()));
    }

    private static byte[] Derive(byte[] rootKey, string purpose) => HMACSHA256.HashData(rootKey, Encoding.UTF8.GetBytes(purpose));
}

/// <summary>Writes files only their owner can read (mode 0600 from the moment they exist).</summary>
public static class SecretFile
{
    /// <summary>
    /// Creates the file; if another process won the race, its file is kept. The content is written to a temp file
    /// first and moved into place without replacing, so a process starting at the same moment never reads a half-written key.
    /// </summary>
    public static void WriteNew(string path, string content)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var temp = $"{path}.{Guid.NewGuid():N}.tmp";
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        try
        {
            using (var writer = new StreamWriter(temp, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), options))
            {
                writer.Write(content);
                writer.Write('\n');
            }

            File.Move(temp, path, overwrite: false);
        }
        catch (IOException) when (File.Exists(path))
        {
            // Created concurrently by another process: theirs stands.
        }
        finally
        {
            File.Delete(temp);
        }
    }
}
