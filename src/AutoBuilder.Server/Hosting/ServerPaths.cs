namespace AutoBuilder.Server.Hosting;

/// <summary>The folders of one server, all resolved once from the data folder.</summary>
public sealed class ServerPaths
{
    public ServerPaths(string dataDirectory, string? cacheDirectory = null, string? workspaceRoot = null)
    {
        DataDirectory = Path.GetFullPath(dataDirectory);
        BlobRoot = Path.Combine(DataDirectory, "blobs");
        TempDirectory = Path.Combine(DataDirectory, "tmp");
        CacheDirectory = Path.GetFullPath(cacheDirectory ?? Path.Combine(DataDirectory, "cache"));
        WorkspaceRoot = Path.GetFullPath(workspaceRoot ?? Path.Combine(Path.GetTempPath(), "autobuilder-workspaces"));
    }

    public string DataDirectory { get; }

    /// <summary>{data}/blobs/{container}/{path}: the filesystem blob store.</summary>
    public string BlobRoot { get; }

    /// <summary>Uploads are spooled here (same filesystem as the blobs, so they are moved, not copied).</summary>
    public string TempDirectory { get; }

    public string CacheDirectory { get; }

    public string WorkspaceRoot { get; }

    public void EnsureCreated()
    {
        // Owner only: it holds admin.key, signing.key, the database and every user's blobs.
        if (!Directory.Exists(DataDirectory))
        {
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(DataDirectory);
            }
            else
            {
                Directory.CreateDirectory(DataDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }

        Directory.CreateDirectory(TempDirectory);
        Directory.CreateDirectory(CacheDirectory);
        Directory.CreateDirectory(WorkspaceRoot);
    }
}
