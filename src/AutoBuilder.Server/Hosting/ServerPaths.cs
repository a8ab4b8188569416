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
        const UnixFileMode ownerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        // The data folder holds admin.key, signing.key, the database and every user's blobs: nobody else may list it.
        // Others may pass through it (0711), to the dependency cache only: the build user reaches {data}/cache that way.
        CreateNew(DataDirectory, ownerOnly | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        CreateNew(BlobRoot, ownerOnly);
        CreateNew(TempDirectory, ownerOnly);
        Directory.CreateDirectory(CacheDirectory);
        Directory.CreateDirectory(WorkspaceRoot);
    }

    /// <summary>Creates a folder with the mode given; an existing folder keeps the mode its operator gave it.</summary>
    private static void CreateNew(string folder, UnixFileMode mode)
    {
        if (Directory.Exists(folder))
        {
            return;
        }

        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(folder);
        }
        else
        {
            Directory.CreateDirectory(folder, mode);
        }
    }
}
