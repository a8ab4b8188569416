using System.ComponentModel.DataAnnotations;
using AutoBuilder.Core.Protocol;
using AutoBuilder.Core.Storage;

namespace AutoBuilder.Server.Hosting;

/// <summary>Which halves of AutoBuilder a process runs.</summary>
public enum ServerRole
{
    All,
    Api,
    Dispatcher,
}

/// <summary>Section "Server".</summary>
public sealed class ServerOptions
{
    public const string Section = "Server";

    /// <summary>Everything of an embedded server lives here: metadata, blobs, cache, keys.</summary>
    [Required]
    public string DataDirectory { get; set; } = ".autobuilder";

    /// <summary>The address users and runners reach this server at; default: the first listening address.</summary>
    public Uri? PublicUrl { get; set; }

    public ServerRole Role { get; set; } = ServerRole.All;

    /// <summary>The largest JSON body any endpoint reads.</summary>
    [Range(1024, 16 * 1024 * 1024)]
    public int MaxJsonBytes { get; set; } = 64 * 1024;
}

/// <summary>Section "Auth".</summary>
public sealed class AuthOptions
{
    public const string Section = "Auth";

    /// <summary>The user every bootstrap creates.</summary>
    public const string AdminUser = "admin";

    /// <summary>
    /// A key ("abk_" + 43–124 URL-safe base64 characters) the admin user gets at start-up, for deployments that cannot
    /// read {data}/admin.key. Unset: the first start writes a random admin key to {data}/admin.key.
    /// </summary>
    public string? BootstrapAdminKey { get; set; }
}

/// <summary>Section "Storage".</summary>
public sealed class StorageOptions
{
    public const string Section = "Storage";

    public const string FileSystemProvider = "FileSystem";
    public const string AzureBlobProvider = "AzureBlob";

    /// <summary>FileSystem (default: blobs under {data}/blobs) or AzureBlob.</summary>
    public string Provider { get; set; } = FileSystemProvider;

    public ContainerNames Containers { get; set; } = new();

    /// <summary>Section "Storage:Azure", used when <see cref="Provider"/> is AzureBlob.</summary>
    public AzureStorageOptions Azure { get; set; } = new();

    /// <summary>Key for signed URLs and build tokens (base64, ≥ 32 bytes); default: generated once into {data}/signing.key.</summary>
    public string? SigningKey { get; set; }
}

/// <summary>
/// Section "Storage:Azure". The seed's environment variables AZURE_STORAGE_CONNECTION_STRING and
/// AZURE_STORAGE_ACCOUNT_NAME are used when the keys here are not set.
/// </summary>
public sealed class AzureStorageOptions
{
    /// <summary>A connection string with the account key: service SAS links.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>The account name alone: DefaultAzureCredential (managed / workload identity) and user-delegation SAS links.</summary>
    public string? AccountName { get; set; }

    /// <summary>The blob endpoint when it is not https://{AccountName}.blob.core.windows.net.</summary>
    public Uri? ServiceUri { get; set; }

    /// <summary>Retries of a transient storage failure (exponential backoff from 0.5 s up to MaxRetryDelay).</summary>
    public int MaxRetries { get; set; } = 5;

    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long one storage request may stall before it is retried.</summary>
    public TimeSpan NetworkTimeout { get; set; } = TimeSpan.FromSeconds(60);
}

/// <summary>Section "Links": lifetimes of signed download links.</summary>
public sealed class DownloadLinkOptions
{
    public const string Section = "Links";

    [Range(typeof(TimeSpan), "00:00:10", "7.00:00:00")]
    public TimeSpan DefaultLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>The longest link a request may ask for with ?lifetime=SECONDS; DefaultLifetime must not exceed it.</summary>
    [Range(typeof(TimeSpan), "00:00:10", "7.00:00:00")]
    public TimeSpan MaxLifetime { get; set; } = TimeSpan.FromHours(24);
}

/// <summary>Section "Uploads".</summary>
public sealed class UploadOptions
{
    public const string Section = "Uploads";

    /// <summary>Largest accepted source ZIP; enforced while streaming.</summary>
    [Range(1024, long.MaxValue)]
    public long MaxBytes { get; set; } = 4L * 1024 * 1024 * 1024;

    /// <summary>Most entries (files and folders) in one archive.</summary>
    [Range(1, 10_000_000)]
    public int MaxEntries { get; set; } = 100_000;

    /// <summary>Most bytes all entries together may extract to (declared sizes; the runner stops at them too).</summary>
    [Range(1024, long.MaxValue)]
    public long MaxUncompressedBytes { get; set; } = 8L * 1024 * 1024 * 1024;

    /// <summary>Highest ratio of the archive's declared uncompressed size to its size on the wire (zip bombs); judged once the content passes 1 MiB.</summary>
    [Range(1, 1_000_000)]
    public double MaxCompressionRatio { get; set; } = 200;
}

/// <summary>Section "RateLimits": a token bucket per API user (per remote address before authentication).</summary>
public sealed class RateLimitOptions
{
    public const string Section = "RateLimits";

    /// <summary>Requests a second a caller may make in the long run.</summary>
    [Range(1, 1_000_000)]
    public int PermitsPerSecond { get; set; } = 50;

    /// <summary>Requests a caller may make at once (the bucket's size).</summary>
    [Range(1, 1_000_000)]
    public int Burst { get; set; } = 100;
}

/// <summary>Section "Builds".</summary>
public sealed class BuildOptions
{
    public const string Section = "Builds";

    [Range(typeof(TimeSpan), "00:00:01", "2.00:00:00")]
    public TimeSpan DefaultTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>The most an autobuilder.yml may ask for.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "2.00:00:00")]
    public TimeSpan MaxTimeout { get; set; } = TimeSpan.FromHours(6);

    /// <summary>The most of a build's output its log keeps (per attempt); past it the output is dropped, the build goes on.</summary>
    [Range(typeof(long), "65536", "1099511627776")]
    public long MaxLogBytes { get; set; } = BuildLimits.DefaultMaxLogBytes;

    /// <summary>The most a build's workspace (source, HOME, TMPDIR) may hold; a build that writes more fails.</summary>
    [Range(1024 * 1024, long.MaxValue)]
    public long MaxWorkspaceBytes { get; set; } = BuildLimits.DefaultMaxWorkspaceBytes;

    /// <summary>
    /// The most a runner may append to one build log through a signed link: every attempt's output limit plus
    /// AutoBuilder's own lines. The runner keeps far below it; it stops a runner (or a build holding its link) that does not.
    /// </summary>
    public long LogAppendCap(int maxAttempts) => (MaxLogBytes + BuildLimits.OwnLinesAllowance) * maxAttempts;
}

/// <summary>Section "Dispatcher".</summary>
public sealed class DispatcherOptions
{
    public const string Section = "Dispatcher";

    [Range(1, 10_000)]
    public int MaxConcurrentBuilds { get; set; } = Environment.ProcessorCount;

    /// <summary>Running builds one user may hold; 0 = no limit beyond the global one.</summary>
    [Range(0, 10_000)]
    public int MaxConcurrentBuildsPerUser { get; set; }

    /// <summary>Attempts per build; infrastructure failures (runner lost) are retried until this many.</summary>
    [Range(1, 20)]
    public int MaxAttempts { get; set; } = 3;

    [Range(typeof(TimeSpan), "00:00:02", "01:00:00")]
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(30);

    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Where this dispatcher's runners reach the API; default: Server:PublicUrl, or this process's own address when it serves the API too.</summary>
    public Uri? ApiUrl { get; set; }

    /// <summary>Names this dispatcher in leases; default: stable across restarts on one machine, data folder (and, for --role dispatcher, listening address).</summary>
    public string? InstanceId { get; set; }

    /// <summary>Grace on top of a build's timeout before the executor kills a runner that did not stop itself.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan TimeoutGrace { get; set; } = TimeSpan.FromMinutes(2);
}

/// <summary>Section "Executor".</summary>
public sealed class ExecutorOptions
{
    public const string Section = "Executor";
    public const string Local = "Local";
    public const string Kubernetes = "Kubernetes";
    public const string InProcess = "InProcess";
    public const string Process = "Process";

    /// <summary>Local (a child process per build) or Kubernetes (a Job per build; section "Kubernetes").</summary>
    public string Kind { get; set; } = Local;

    /// <summary>Where local workspaces are made (fast local scratch); default: the system temp folder.</summary>
    public string? WorkspaceRoot { get; set; }

    /// <summary>Root of the dependency caches, one folder per project (projects/{projectId}); default: {data}/cache.</summary>
    public string? CacheDirectory { get; set; }

    /// <summary>Keep workspaces after builds (debugging only).</summary>
    public bool KeepWorkspaces { get; set; }

    /// <summary>
    /// With the Local executor, where each build's runner runs: InProcess (default: inside the server, warm; the build
    /// command is still a child process) or Process (a child `autobuilder runner` process per build, as on Kubernetes).
    /// </summary>
    public string Runner { get; set; } = InProcess;

    /// <summary>With Runner=Process, the command that starts a runner; default: this very executable with the verb `runner`.</summary>
    public string? RunnerExecutable { get; set; }
}

/// <summary>Section "Toolchains".</summary>
public sealed class ToolchainOptions
{
    public const string Section = "Toolchains";

    public MavenToolchainOptions Maven { get; set; } = new();
}

public sealed class MavenToolchainOptions
{
    /// <summary>A settings.xml passed to Maven with -s (a corporate mirror, say).</summary>
    public string? SettingsFile { get; set; }

    public bool Offline { get; set; }
}
